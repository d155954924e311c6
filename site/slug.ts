/**
 * Heading anchors as GitHub makes them, so a link such as
 * `configuration.md#make-run-only` works on GitHub and on the site alike:
 * lower case, every character but letters, digits, spaces, `_` and `-`
 * dropped, each space a hyphen. (VitePress's own slugs turn punctuation into
 * hyphens, so "OAuth 2.0 / OIDC" would get another anchor.)
 */
export function githubSlug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}
