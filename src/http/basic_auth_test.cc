#include "http/basic_auth.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

#include "ha_sync/text.h"
#include "support/temp_dir.h"

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

// Issue 13: a configured auth source that yields no credentials must stop
// the UI (ui_main exits 64), never serve it open.
TEST_CASE("an auth file that is empty, blank, unreadable or a directory fails closed") {
  const ha_sync::testing::TempDir tmp;
  const std::string dir = tmp.path();
  auto write = [&](const std::string& name, const std::string& text) {
    std::FILE* f = std::fopen((dir + "/" + name).c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return dir + "/" + name;
  };
  auto empty = BasicAuth::FromFile(write("empty", ""));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message().find("holds no user:password line") != std::string::npos);
  CHECK_FALSE(BasicAuth::FromFile(write("blank", "\n\n# only comments\n")).ok());
  CHECK_FALSE(BasicAuth::FromFile(write("spaces", "   \n")).ok());
  auto malformed = BasicAuth::FromFile(write("bad", "ops:pw\nops\n"));
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.status().message().find("line 2") != std::string::npos);
  auto directory = BasicAuth::FromFile(dir);
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.status().message().find(dir) != std::string::npos);
  CHECK(BasicAuth::FromFile(write("good", "ops:pw\n")).ok());
  for (const char* name : {"empty", "blank", "spaces", "bad", "good"}) {
    ::unlink((dir + "/" + name).c_str());
  }
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace ha_sync::http
