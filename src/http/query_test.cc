#include "http/query.h"

#include <doctest/doctest.h>

#include "http/listen_address.h"
#include "http/prometheus_text.h"

namespace ha_sync::http {
namespace {

TEST_CASE("targets split into path and decoded parameters") {
  auto t = ParseTarget("/api/x%20y?pair=a%2Fb&name=one+two&empty=&flag");
  REQUIRE(t.ok());
  CHECK(t->path == "/api/x y");
  CHECK(t->params.at("pair") == "a/b");
  CHECK(t->params.at("name") == "one two");
  CHECK(t->params.at("empty").empty());
  CHECK(t->params.at("flag").empty());

  CHECK_FALSE(ParseTarget("/a?x=%zz").ok());
  CHECK_FALSE(ParseTarget("/a?x=%4").ok());
  CHECK_FALSE(ParseTarget("/a%").ok());
  CHECK_FALSE(ParseTarget("http://host/a").ok());
  auto dup = ParseTarget("/a?limit=1&limit=2");
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().message().find("more than once") != std::string::npos);
}

TEST_CASE("integer parameters are strict") {
  auto t = ParseTarget("/a?limit=20&neg=-3&big=99999999999999999999&word=abc&sci=1e3&sp=+5&min=0");
  REQUIRE(t.ok());
  auto limit = IntParam(*t, "limit", 1, 500);
  REQUIRE(limit.ok());
  CHECK(**limit == 20);
  auto absent = IntParam(*t, "nothing", 1, 500);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
  CHECK(IntParam(*t, "neg", -10, 10).ok());
  CHECK_FALSE(IntParam(*t, "neg", 0, 10).ok());
  CHECK_FALSE(IntParam(*t, "big", 0, INT64_MAX).ok());
  auto word = IntParam(*t, "word", 1, 500);
  REQUIRE_FALSE(word.ok());
  CHECK(word.status().message() == "parameter 'word' must be a whole number from 1 to 500, got 'abc'");
  CHECK_FALSE(IntParam(*t, "sci", 1, 5000).ok());
  CHECK_FALSE(IntParam(*t, "sp", 1, 500).ok());  // '+' decodes to a space
  CHECK_FALSE(IntParam(*t, "min", 1, 500).ok());
}

TEST_CASE("text parameters reject invalid UTF-8 and control characters") {
  auto t = ParseTarget("/a?ok=m%C3%A9dia&bad=%FF&ctl=a%0Ab&long=abcdef");
  REQUIRE(t.ok());
  auto ok = TextParam(*t, "ok", 10);
  REQUIRE(ok.ok());
  CHECK(**ok == "m\xC3\xA9" "dia");
  auto bad = TextParam(*t, "bad", 10);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("\\xff") != std::string::npos);  // shown escaped
  CHECK_FALSE(TextParam(*t, "ctl", 10).ok());
  CHECK_FALSE(TextParam(*t, "long", 5).ok());
  CHECK(TextParam(*t, "long", 6).ok());
}

TEST_CASE("unknown parameters are named") {
  auto t = ParseTarget("/a?iteration=5");
  REQUIRE(t.ok());
  Status s = OnlyKnownParams(*t, {"iteration_id", "limit"});
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "unknown parameter 'iteration'; known: iteration_id, limit");
  CHECK(OnlyKnownParams(*ParseTarget("/a?limit=1"), {"iteration_id", "limit"}).ok());
}

TEST_CASE("listen addresses") {
  auto a = ParseListenAddress("0.0.0.0:8080");
  REQUIRE(a.ok());
  CHECK(a->host == "0.0.0.0");
  CHECK(a->port == 8080);
  auto b = ParseListenAddress("[::1]:9");
  REQUIRE(b.ok());
  CHECK(b->host == "::1");
  CHECK(ParseListenAddress(":0")->host == "0.0.0.0");
  CHECK(ParseListenAddress("localhost:1")->host == "127.0.0.1");
  CHECK_FALSE(ParseListenAddress("8080").ok());
  CHECK_FALSE(ParseListenAddress("1.2.3.4:65536").ok());
  CHECK_FALSE(ParseListenAddress("example.org:80").ok());
  CHECK_FALSE(ParseListenAddress("::1:80").ok());
  CHECK_FALSE(ParseListenAddress("1.2.3.4:").ok());
}

TEST_CASE("prometheus text escapes label values and prints numbers exactly") {
  PrometheusText p;
  p.Family("ha_sync_x", "gauge", "A help\nline");
  p.Sample("ha_sync_x", {{"pair", "a\"b\\c\nd"}, {"direction", "\xff"}}, 3);
  p.Sample("ha_sync_x", {}, 0.25);
  p.Sample("ha_sync_x", {}, 1234567890123.0);
  CHECK(p.text() ==
        "# HELP ha_sync_x A help\\nline\n# TYPE ha_sync_x gauge\n"
        "ha_sync_x{pair=\"a\\\"b\\\\c\\nd\",direction=\"\\\\xff\"} 3\n"
        "ha_sync_x 0.25\n"
        "ha_sync_x 1234567890123\n");
}

}  // namespace
}  // namespace ha_sync::http
