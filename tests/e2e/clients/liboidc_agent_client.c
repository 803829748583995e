/* A client of Debian's C liboidc-agent (4.2.6): asks the agent at $OIDC_SOCK
 * for a token by account (`account NAME`) or by issuer (`issuer URL`), the way
 * programs linked against liboidc-agent do. Prints token, issuer and expiry,
 * one per line; on failure the agent's error on stderr and exit 1. */
#include <stdio.h>
#include <string.h>

#include <oidc-agent/api.h>

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "account") != 0 && strcmp(argv[1], "issuer") != 0)) {
    fprintf(stderr, "usage: %s account NAME | issuer URL\n", argv[0]);
    return 2;
  }
  struct agent_response r =
      strcmp(argv[1], "issuer") == 0
          ? getAgentTokenResponseForIssuer(argv[2], 0, NULL, "liboidc-agent-test", NULL)
          : getAgentTokenResponse(argv[2], 0, NULL, "liboidc-agent-test", NULL);
  if (r.type != AGENT_RESPONSE_TYPE_TOKEN) {
    fprintf(stderr, "error: %s\n", r.error_response.error ? r.error_response.error : "(none)");
    secFreeAgentResponse(r);
    return 1;
  }
  printf("%s\n%s\n%ld\n", r.token_response.token, r.token_response.issuer, (long)r.token_response.expires_at);
  secFreeAgentResponse(r);
  return 0;
}
