-- Provider templates (issue 22): the template a provider was registered from
-- and the values of its placeholders (a tenant, a shop: never secrets), and
-- an explicit RFC 7009 revocation endpoint for providers without discovery.
alter table providers
  add column template        text  not null default '' check (template = '' or (template ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(template) <= 64)),
  add column template_values jsonb not null default '{}' check (jsonb_typeof(template_values) = 'object'),
  add column revocation_url  text  not null default '';
