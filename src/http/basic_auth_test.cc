#include "http/basic_auth.h"

#include <doctest/doctest.h>

#include "ha_sync/text.h"

namespace ha_sync::http {
namespace {

std::string Header(const std::string& user_pass) { return "Basic " + Base64Encode(user_pass); }

TEST_CASE("basic auth accepts exactly the configured users") {
  auto auth = BasicAuth::FromText("# operators\nops:s3cr:et\n\nviewer:pw\r\n", "test");
  REQUIRE(auth.ok());
  CHECK(auth->enabled());
  CHECK(auth->Check(Header("ops:s3cr:et")));
  CHECK(auth->Check(Header("viewer:pw")));
  CHECK(auth->Check("basic " + Base64Encode("viewer:pw")));
  CHECK_FALSE(auth->Check(Header("viewer:pw2")));
  CHECK_FALSE(auth->Check(Header("viewer:p")));
  CHECK_FALSE(auth->Check(Header("ops")));
  CHECK_FALSE(auth->Check("Bearer abc"));
  CHECK_FALSE(auth->Check("Basic !!!"));
  CHECK_FALSE(auth->Check(""));
}

TEST_CASE("bad credential text names the line, never the secret") {
  auto bad = BasicAuth::FromText("ok:pw\nnocolonsecret\n", "auth file 'x'");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "auth file 'x' line 2: expected user:password");
  CHECK_FALSE(BasicAuth::FromText("user:\n", "t").ok());
  CHECK_FALSE(BasicAuth::FromText(":pw\n", "t").ok());
  CHECK_FALSE(BasicAuth::FromText("# nothing\n", "t").ok());
  auto missing = BasicAuth::FromFile("/nonexistent/ha-sync-auth");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("No such file") != std::string::npos);
  CHECK_FALSE(BasicAuth().enabled());
}

}  // namespace
}  // namespace ha_sync::http
