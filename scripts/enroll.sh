# Sourced by the bench scripts: the second admin's enrollment code a bench
# server is initialised with, and redeeming an enrollment code for its token
# (tokens for the bench's principals need a second admin's approval). A
# token is issued once its holder proves a second factor (TOTP): the code
# alone answers with a secret to set up, the code with the secret's current
# code (`custos totp-code` standing in for the app) with the token. Against
# a server from before enrollment codes or second factors, the first answer
# already holds the token (or nothing).
code="bench-second-admin-code-$(date +%s)-0123456789"
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
totp() { CUSTOS_TOTP_SECRET="$1" "${CARGO_TARGET_DIR:-/var/cache/custos/target}/release/custos" totp-code; }
enroll_with() { # base url, enrollment code
  local first secret
  first=$(curl -s -X POST -H 'Content-Type: application/json' -d "{\"code\":\"$2\"}" "$1/v1/enroll")
  secret=$(echo "$first" | field secret)
  if [ -z "$secret" ]; then
    echo "$first" | field token
    return
  fi
  curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"code\":\"$2\",\"second_factor\":\"$(totp "$secret")\"}" "$1/v1/enroll" | field token
}
enroll_second() { # base url
  enroll_with "$1" "$code"
}
prove_admin() { # base url, the bootstrap admin's token: set up and prove its second factor
  local secret
  secret=$(curl -s -X POST -H "Authorization: Bearer $2" "$1/v1/factor" | field secret)
  if [ -n "$secret" ]; then
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
      -d "{\"code\":\"$(totp "$secret")\"}" "$1/v1/factor/confirm"
  fi
  return 0
}
