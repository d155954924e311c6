/** The sandbox provider's pages: plain HTML forms, no scripts, usable by keyboard and on phones. */

/** The test users a newcomer can sign in as. */
export const sandboxUsers = [
  { id: "alice", name: "Alice Example", email: "alice@sandbox.nexus.test" },
  { id: "bob", name: "Bob Example", email: "bob@sandbox.nexus.test" },
] as const;

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Nexus sandbox</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:28rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:8px;box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem;margin-top:0}.note{color:#555;font-size:.9rem}
fieldset{border:1px solid #ccd;border-radius:6px;margin:1rem 0}label{display:block;padding:.4rem 0}
button{font:inherit;padding:.6rem 1.1rem;border-radius:6px;border:1px solid #2453d6;background:#2453d6;color:#fff;margin-right:.5rem}
button.secondary{background:#fff;color:#2453d6}button:focus,input:focus{outline:3px solid #f5b800;outline-offset:2px}
ul{padding-left:1.2rem}
</style></head><body><main>
<p class="note">Nexus sandbox provider: a real OpenID provider for trying Nexus locally. Not for real accounts.</p>
${body}
</main></body></html>`;
}

/** Step 1: pick a test user. */
export function loginPage(uid: string, clientName: string): string {
  const options = sandboxUsers.map((u, i) =>
    `<label><input type="radio" name="user" value="${u.id}"${i === 0 ? " checked" : ""}> ${escape(u.name)} <span class="note">(${u.email})</span></label>`).join("\n");
  return page("Sign in", `<h1>Sign in to continue to ${escape(clientName)}</h1>
<form method="post" action="/interaction/${escape(uid)}/login">
<fieldset><legend>Choose a test user</legend>
${options}
</fieldset>
<button type="submit">Continue</button>
</form>`);
}

/** Step 2: consent to the scopes asked for. */
export function consentPage(uid: string, clientName: string, user: string, scopes: readonly string[]): string {
  const list = scopes.map((s) => `<li><code>${escape(s)}</code></li>`).join("");
  return page("Allow access", `<h1>${escape(clientName)} wants access to your sandbox account</h1>
<p>Signed in as <strong>${escape(user)}</strong>. It asks for:</p>
<ul>${list}</ul>
<form method="post" action="/interaction/${escape(uid)}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit" class="secondary">Deny</button></form>`);
}

/** The sandbox API's own home page. */
export function apiHomePage(key: string): string {
  return page("Sandbox API", `<h1>Sandbox API</h1>
<p>This stand-in for an API-key service accepts the key <code>${escape(key)}</code> at <code>GET /me</code> in the
<code>X-API-Key</code> header. Connect the <code>sandbox-api</code> provider in Nexus and enter that key.</p>`);
}
