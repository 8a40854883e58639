// GitHub-style signatures checked by @octokit/webhooks-methods, the verifier GitHub receivers
// use. stdin: [{secret, payload, signature}, ...]; stdout: [true|false, ...].
import { verify } from "@octokit/webhooks-methods";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const { secret, payload, signature } of JSON.parse(input)) {
  results.push(await verify(secret, payload, signature));
}
process.stdout.write(JSON.stringify(results));
