#include "ha_sync/utc_time.h"

#include <doctest/doctest.h>

namespace ha_sync {

TEST_CASE("UTC text: each style writes what it reads back") {
  const int64_t ms = 1764101010123;  // 2025-11-25T20:03:30.123Z
  CHECK(FormatUtc(ms, UtcStyle::kIso) == "2025-11-25T20:03:30.123Z");
  CHECK(FormatUtcMs(ms) == "2025-11-25T20:03:30.123Z");
  CHECK(FormatUtc(ms, UtcStyle::kSql) == "2025-11-25 20:03:30.123");
  CHECK(FormatUtc(ms, UtcStyle::kCompact) == "20251125T200330Z");
  CHECK(FormatUtc(-1, UtcStyle::kIso) == "1969-12-31T23:59:59.999Z");
  int64_t back = 0;
  REQUIRE(ParseUtc("2025-11-25T20:03:30.123Z", UtcStyle::kIso, &back));
  CHECK(back == ms);
  REQUIRE(ParseUtc("2025-11-25 20:03:30.123", UtcStyle::kSql, &back));
  CHECK(back == ms);
  // SQL: no fraction, or microseconds cut to milliseconds.
  REQUIRE(ParseUtc("2025-11-25 20:03:30", UtcStyle::kSql, &back));
  CHECK(back == ms - 123);
  REQUIRE(ParseUtc("2025-11-25 20:03:30.123999", UtcStyle::kSql, &back));
  CHECK(back == ms);
  back = 7;
  CHECK_FALSE(ParseUtc("2025-11-25 20:03:30.123", UtcStyle::kIso, &back));
  CHECK_FALSE(ParseUtc("2025-11-25T20:03:30.123Z", UtcStyle::kSql, &back));
  CHECK_FALSE(ParseUtc("2025-13-25 20:03:30", UtcStyle::kSql, &back));
  CHECK_FALSE(ParseUtc("2025-11-25 20:03:30.", UtcStyle::kSql, &back));
  CHECK_FALSE(ParseUtc("20251125T200330Z", UtcStyle::kCompact, &back));
  CHECK(back == 7);
}

}  // namespace ha_sync
