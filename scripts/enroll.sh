# Sourced by the bench scripts: the second admin's enrollment code a bench
# server is initialised with, and redeeming it for the second admin's token
# (tokens for the bench's principals need a second admin's approval). Prints
# nothing against a server from before enrollment codes.
code="bench-second-admin-code-$(date +%s)-0123456789"
enroll_second() { # base url
  curl -s -X POST -H 'Content-Type: application/json' -d "{\"code\":\"$code\"}" "$1/v1/enroll" \
    | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
}
