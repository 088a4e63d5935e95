#include "ha_sync/flag_table.h"

#include <doctest/doctest.h>

namespace ha_sync {
namespace {

struct Values {
  int64_t count = 7;
  double seconds = 2;
  std::string text = "default";
  std::string choice = "auto";
  bool on = false;
  bool off = true;
  std::vector<std::string> list;
};

std::string Parse(Values* v, std::vector<std::string> args) {
  FlagTable t("test");
  t.Count("count", "N", "a count", 1, 10, &v->count)
      .Decimal("seconds", "SECONDS", "a time", 1e9, &v->seconds, "seconds")
      .Text("text", "LABEL", "a label", &v->text)
      .Choice("choice", "a choice", {"auto", "lease", "flock"}, &v->choice)
      .List("item", "PATH", "repeatable", [v](const std::string& x) {
        v->list.push_back(x);
        return std::string();
      })
      .Switch("on", "a switch", &v->on)
      .Switch("off", "a switch that starts true", &v->off);
  return t.Parse(args);
}

}  // namespace

TEST_CASE("flags not given keep their defaults; given ones are parsed") {
  Values v;
  REQUIRE(Parse(&v, {}) == "");
  CHECK(v.count == 7);
  CHECK(v.text == "default");
  CHECK_FALSE(v.on);
  REQUIRE(Parse(&v, {"--count", "3", "--seconds=0.5", "--text", "x", "--choice", "lease", "--item",
                     "a", "--item", "b"}) == "");
  CHECK(v.count == 3);
  CHECK(v.seconds == 0.5);
  CHECK(v.text == "x");
  CHECK(v.choice == "lease");
  CHECK(v.list == std::vector<std::string>{"a", "b"});
}

TEST_CASE("an empty value is rejected for every kind of value flag") {
  for (const char* flag : {"--count", "--seconds", "--text", "--choice", "--item"}) {
    Values v;
    const std::string error = Parse(&v, {flag, ""});
    INFO(flag);
    CHECK(error.find(std::string(flag) + " was given an empty value") == 0);
    CHECK(v.count == 7);
    CHECK(v.text == "default");
    CHECK(v.list.empty());
  }
  Values v;
  CHECK(Parse(&v, {"--item", "a", "--item", ""}).find("--item was given an empty value") == 0);
  CHECK(Parse(&v, {"--count="}) == "--count was given an empty value; give N or leave the flag out");
  CHECK(Parse(&v, {"--on="}).find("--on takes no value or one of") == 0);
}

TEST_CASE("bad values name the flag, the rule and the value on one line") {
  Values v;
  CHECK(Parse(&v, {"--count", "11"}) == "--count must be a whole number from 1 to 10, got '11'");
  CHECK(Parse(&v, {"--seconds", "-1"}) == "--seconds must be a number of seconds from 0 to 1000000000, got '-1'");
  CHECK(Parse(&v, {"--seconds", "99999999999"}) ==
        "--seconds must be a number of seconds from 0 to 1000000000, got '99999999999'");
  CHECK(Parse(&v, {"--seconds", "1000000000"}) == "");
  CHECK(Parse(&v, {"--choice", "Lease"}) == "--choice must be one of auto|lease|flock, got 'Lease'");
  CHECK(Parse(&v, {"--count", "1\n2"}) == "--count must be a whole number from 1 to 10, got '1\\n2'");
}

TEST_CASE("a word that belongs to no flag is refused, never dropped") {
  Values v;
  CHECK(Parse(&v, {"dry-run"}) ==
        "unexpected argument 'dry-run' (every value belongs to a --flag; quote a value with spaces)");
  // An unquoted value with a space: the second half is a word of its own.
  CHECK(Parse(&v, {"--text", "/srv/my", "dest"}) ==
        "unexpected argument 'dest' (every value belongs to a --flag; quote a value with spaces)");
  CHECK(Parse(&v, {"--text", "/srv/my dest"}) == "");
  CHECK(v.text == "/srv/my dest");
}

TEST_CASE("a value flag followed by another flag is missing its value") {
  Values v;
  CHECK(Parse(&v, {"--text", "--on"}).find("--text is missing its value") == 0);
  CHECK(Parse(&v, {"--text", "--count=3"}).find("--text is missing its value") == 0);
  CHECK(v.text == "default");
  // A value that merely starts with dashes is still a value.
  CHECK(Parse(&v, {"--text", "--not-a-flag"}) == "");
  CHECK(v.text == "--not-a-flag");
}

TEST_CASE("switches: bare, =true|false|1|0|yes|no in any case, nothing else") {
  for (const auto& [arg, want] : std::vector<std::pair<std::string, bool>>{
           {"--on", true}, {"--on=true", true}, {"--on=TRUE", true}, {"--on=1", true},
           {"--on=yes", true}, {"--on=Yes", true}, {"--on=false", false}, {"--on=False", false},
           {"--on=0", false}, {"--on=no", false}, {"--on=NO", false}}) {
    Values v;
    v.on = !want;
    INFO(arg);
    REQUIRE(Parse(&v, {arg}) == "");
    CHECK(v.on == want);
  }
  Values v;
  REQUIRE(Parse(&v, {"--off=false"}) == "");
  CHECK_FALSE(v.off);
  CHECK(Parse(&v, {"--on=maybe"}) ==
        "--on takes no value or one of true|false|1|0|yes|no (any case), got 'maybe'");
  CHECK(Parse(&v, {"--on=2"}).find("--on takes no value") == 0);
  CHECK(Parse(&v, {"--on", "--on=false"}) == "--on was given more than once");
  CHECK(Parse(&v, {"--count", "1", "--count=2"}) == "--count was given more than once");
  CHECK(Parse(&v, {"--item", "a", "--item=b"}) == "");  // a List repeats
}

TEST_CASE("unknown flags and abbreviations are errors; help lists every flag") {
  Values v;
  CHECK(Parse(&v, {"--bogus"}).find("bogus") != std::string::npos);
  CHECK_FALSE(Parse(&v, {"--cou", "3"}).empty());
  FlagTable t("caption");
  bool b = false;
  int64_t n = 0;
  t.Switch("flag", "help text", &b).Count("num", "N", "a number", 0, 1, &n);
  const std::string help = t.Help();
  CHECK(help.find("--flag [=BOOL(=true)]") != std::string::npos);
  CHECK(help.find("--num N") != std::string::npos);
}

TEST_CASE("ParseSwitchValue") {
  CHECK(ParseSwitchValue("yEs") == true);
  CHECK(ParseSwitchValue("0") == false);
  CHECK_FALSE(ParseSwitchValue("").has_value());
  CHECK_FALSE(ParseSwitchValue("on").has_value());
  CHECK_FALSE(ParseSwitchValue(" true").has_value());
}

}  // namespace ha_sync
