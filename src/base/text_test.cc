#include "ha_sync/text.h"

#include <doctest/doctest.h>

#include "ha_sync/status.h"

namespace ha_sync {

TEST_CASE("EscapeForDisplay keeps UTF-8 and escapes control and invalid bytes") {
  CHECK(EscapeForDisplay("plain name.txt") == "plain name.txt");
  CHECK(EscapeForDisplay("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(EscapeForDisplay("a\nb\tc\\d") == "a\\nb\\tc\\\\d");
  CHECK(EscapeForDisplay("bad\xff\xfe") == "bad\\xff\\xfe");
  CHECK(EscapeForDisplay(std::string("nul\0x", 5)) == "nul\\x00x");
  // Overlong encoding of '/' is not valid UTF-8.
  CHECK(EscapeForDisplay("\xc0\xaf") == "\\xc0\\xaf");
}

TEST_CASE("ShellQuote gives one word a shell reads back as the same bytes") {
  CHECK(ShellQuote("/mnt/hp/photos") == "/mnt/hp/photos");
  CHECK(ShellQuote("/tmp/x/my dest") == "'/tmp/x/my dest'");
  CHECK(ShellQuote("it's") == "'it'\\''s'");
  CHECK(ShellQuote("") == "''");
  CHECK(ShellQuote("caf\xc3\xa9 bar") == "'caf\xc3\xa9 bar'");  // UTF-8 stays readable
  CHECK(ShellQuote("a\nb") == "$'a\\x0ab'");
  CHECK(ShellQuote(std::string("x\xff'\\", 4)) == "$'x\\xff\\'\\\\'");
}

TEST_CASE("IsValidUtf8 rejects surrogates, overlongs and truncation") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("\xf0\x9f\x98\x80"));
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));
  CHECK_FALSE(IsValidUtf8("\xe0\x80\xaf"));
  CHECK_FALSE(IsValidUtf8("\xf0\x9f\x98"));
}

TEST_CASE("stored-path encoding round-trips every byte string") {
  const std::string samples[] = {
      "photos/2024/IMG 0001.jpg",
      "with\nnewline",
      "latin1-\xe9t\xe9",
      "b64:looks-encoded",
      std::string(255, 'x') + "/" + std::string(255, '\xff'),
      "",
  };
  for (const std::string& p : samples) {
    std::string back;
    REQUIRE(DecodePathFromText(EncodePathForText(p), &back));
    CHECK(back == p);
    CHECK(IsValidUtf8(EncodePathForText(p)));
  }
  CHECK(EncodePathForText("plain/utf8") == "plain/utf8");
  CHECK(EncodePathForText("\xff").rfind("b64:", 0) == 0);
  std::string out;
  CHECK_FALSE(DecodePathFromText("b64:@@@@", &out));
}

TEST_CASE("Status::FromErrno names op, path and errno text") {
  Status s = Status::FromErrno(ENOENT, "open", "dir/fi\nle");
  CHECK_FALSE(s.ok());
  CHECK(s.err() == ENOENT);
  CHECK(s.message() == "open 'dir/fi\\nle': No such file or directory");
}

}  // namespace ha_sync
