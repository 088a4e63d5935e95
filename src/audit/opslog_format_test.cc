#include "audit/opslog_format.h"

#include <doctest/doctest.h>

namespace ha_sync::audit {

TEST_CASE("op lines round-trip, including non-UTF-8 paths and nulls") {
  OpRecord op;
  op.operation = OpKind::kUpdate;
  op.filepath = "dir/na\xffme\nx";
  op.size_before = 10;
  op.size_after = 0;
  op.md5_after = "d41d8cd98f00b204e9800998ecf8427e";
  op.started_at_ms = 1764000000123;
  op.ended_at_ms = 1764000000456;
  op.status = OpStatus::kFail;
  op.error_message = "write 'x': No space left on device";
  op.dry_run = true;
  op.bytes_transferred = 7;

  const std::string line = FormatOpLine(op);
  CHECK(line.find('\n') == std::string::npos);
  auto parsed = ParseOpslogLine(line);
  REQUIRE(parsed.ok());
  const auto& back = std::get<OpRecord>(*parsed);
  CHECK(back.operation == op.operation);
  CHECK(back.filepath == op.filepath);
  CHECK(back.size_before == op.size_before);
  CHECK(back.size_after == op.size_after);
  CHECK_FALSE(back.md5_before.has_value());
  CHECK(back.md5_after == op.md5_after);
  CHECK(back.started_at_ms == op.started_at_ms);
  CHECK(back.ended_at_ms == op.ended_at_ms);
  CHECK(back.status == op.status);
  CHECK(back.error_message == op.error_message);
  CHECK(back.dry_run);
  CHECK(back.bytes_transferred == 7);
}

TEST_CASE("header and footer round-trip") {
  RunHeader h{"0123456789abcdef0123456789abcdef", "media", "dell-to-hp", "/mnt/dell/media",
              "/mnt/hp/media", 1764000000000, false, 42};
  auto ph = ParseOpslogLine(FormatHeaderLine(h));
  REQUIRE(ph.ok());
  CHECK(std::get<RunHeader>(*ph).run_id == h.run_id);
  CHECK(std::get<RunHeader>(*ph).plan_id == 42);
  CHECK(std::get<RunHeader>(*ph).dest == h.dest);
  CHECK(std::get<RunHeader>(*ph).started_at_ms == h.started_at_ms);

  RunFooter f;
  f.status = RunStatus::kPartialFailure;
  f.ended_at_ms = 1764000001999;
  f.counts = {1, 2, 3, 4, 5, 600, 2};
  auto pf = ParseOpslogLine(FormatFooterLine(f));
  REQUIRE(pf.ok());
  const auto& bf = std::get<RunFooter>(*pf);
  CHECK(bf.status == RunStatus::kPartialFailure);
  CHECK(bf.counts.skipped == 4);
  CHECK(bf.counts.bytes_transferred == 600);
  CHECK(FormatUtcMs(bf.ended_at_ms) == "2025-11-24T16:00:01.999Z");
  CHECK(bf.counts.stale == 2);
}

TEST_CASE("a stale line (ha-sync apply) round-trips; a header without plan_id has none") {
  OpStale stale{OpKind::kDelete, std::string("dir/\xff name"), "dest mtime changed"};
  auto ps = ParseOpslogLine(FormatStaleLine(stale));
  REQUIRE(ps.ok());
  const auto& back = std::get<OpStale>(*ps);
  CHECK(back.operation == OpKind::kDelete);
  CHECK(back.filepath == stale.filepath);
  CHECK(back.reason == "dest mtime changed");
  RunHeader h{"0123456789abcdef0123456789abcdef", "media", "fwd", "/a", "/b", 1764000000000, false,
              std::nullopt};
  auto ph = ParseOpslogLine(FormatHeaderLine(h));
  REQUIRE(ph.ok());
  CHECK(!std::get<RunHeader>(*ph).plan_id);
}

TEST_CASE("malformed lines are errors, not crashes") {
  CHECK_FALSE(ParseOpslogLine("").ok());
  CHECK_FALSE(ParseOpslogLine("{\"type\":\"op\"}").ok());
  CHECK_FALSE(ParseOpslogLine("{\"type\":\"op\",\"operation\":\"copy\"").ok());
  CHECK_FALSE(ParseOpslogLine("[1,2]").ok());
  CHECK_FALSE(ParseOpslogLine("{\"type\":\"nope\"}").ok());
}

}  // namespace ha_sync::audit

namespace ha_sync::audit {

TEST_CASE("op and intent lines escape what JSON needs and always parse") {
  OpRecord op;
  op.operation = OpKind::kDelete;
  op.filepath = "a \"quoted\"\\back\x01slash\ttab\n";
  op.error_message = std::string("bad \xff byte and \"quotes\"");
  op.started_at_ms = 0;
  op.ended_at_ms = 4102444799999;  // 2099-12-31T23:59:59.999Z
  const std::string line = FormatOpLine(op);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find("\"ended_at\":\"2099-12-31T23:59:59.999Z\"") != std::string::npos);
  CHECK(line.find("\"started_at\":\"1970-01-01T00:00:00.000Z\"") != std::string::npos);
  auto parsed = ParseOpslogLine(line);
  REQUIRE(parsed.ok());
  const auto& back = std::get<OpRecord>(*parsed);
  CHECK(back.filepath == op.filepath);
  CHECK(back.error_message == std::string("bad \\xff byte and \"quotes\""));
  CHECK(back.ended_at_ms == op.ended_at_ms);

  OpRecord intent;
  intent.operation = OpKind::kUpdate;
  intent.filepath = "d/\xfe\xff";
  intent.size_before = 12;
  intent.started_at_ms = 1764000000123;
  auto pi = ParseOpslogLine(FormatIntentLine(intent));
  REQUIRE(pi.ok());
  const auto& bi = std::get<OpIntent>(*pi).op;
  CHECK(bi.operation == OpKind::kUpdate);
  CHECK(bi.filepath == intent.filepath);
  CHECK(bi.size_before == 12);
  CHECK(bi.started_at_ms == intent.started_at_ms);
}

}  // namespace ha_sync::audit
