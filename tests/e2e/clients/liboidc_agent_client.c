/* A client of Debian's C liboidc-agent (4.2.6): asks the agent at $OIDC_SOCK
 * for a token by account (`account NAME`) or by issuer (`issuer URL`), the way
 * programs linked against liboidc-agent do, or by account through the
 * library's most used call, getTokenResponse3, whose error comes from
 * oidcagent_serror() (`serror NAME`). Prints token, issuer and expiry, one
 * per line; on failure the agent's error on stderr and exit 1. */
#include <stdio.h>
#include <string.h>

#include <oidc-agent/api.h>

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "account") != 0 && strcmp(argv[1], "issuer") != 0 &&
                    strcmp(argv[1], "serror") != 0)) {
    fprintf(stderr, "usage: %s account NAME | issuer URL | serror NAME\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "serror") == 0) {
    struct token_response t = getTokenResponse3(argv[2], 0, NULL, "liboidc-agent-test", NULL);
    if (t.token == NULL) {
      fprintf(stderr, "error: %s\n", oidcagent_serror());
      return 1;
    }
    printf("%s\n%s\n%ld\n", t.token, t.issuer, (long)t.expires_at);
    secFreeTokenResponse(t);
    return 0;
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
