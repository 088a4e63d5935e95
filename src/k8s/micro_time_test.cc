#include "k8s/micro_time.h"

#include <doctest/doctest.h>

namespace ha_sync::k8s {

using std::chrono::microseconds;
using std::chrono::seconds;

TEST_CASE("MicroTime is written with exactly six fractional digits, UTC, Z") {
  CHECK(FormatMicroTime(WallTime(microseconds(0))) == "1970-01-01T00:00:00.000000Z");
  // 2026-11-25T20:03:10.654321Z
  const WallTime t(seconds(1795636990) + microseconds(654321));
  CHECK(FormatMicroTime(t) == "2026-11-25T20:03:10.654321Z");
  CHECK(FormatMicroTime(WallTime(seconds(1795636990) + microseconds(7))) == "2026-11-25T20:03:10.000007Z");
  // Before the epoch the fraction still counts forward from the whole second.
  CHECK(FormatMicroTime(WallTime(microseconds(-1))) == "1969-12-31T23:59:59.999999Z");
  CHECK(FormatMicroTime(WallTime(seconds(951782400))) == "2000-02-29T00:00:00.000000Z");
}

TEST_CASE("MicroTime parsing round-trips and is exact") {
  const WallTime t(seconds(1795636990) + microseconds(654321));
  REQUIRE(ParseMicroTime(FormatMicroTime(t)).has_value());
  CHECK(*ParseMicroTime(FormatMicroTime(t)) == t);
  CHECK(*ParseMicroTime("2000-02-29T23:59:59.999999Z") == WallTime(seconds(951868799) + microseconds(999999)));
  const auto now = ToWallTime(std::chrono::system_clock::now());
  CHECK(*ParseMicroTime(FormatMicroTime(now)) == now);
}

TEST_CASE("MicroTime parsing rejects everything the server would not emit") {
  for (const char* bad : {
           "2030-01-02T03:04:05Z",            // no fraction
           "2030-01-02T03:04:05.123Z",        // 3 digits
           "2030-01-02T03:04:05.12345Z",      // 5 digits
           "2030-01-02T03:04:05.1234567Z",    // 7 digits
           "2030-01-02T03:04:05.123456z",     // lowercase z
           "2030-01-02T03:04:05.123456",      // no zone
           "2030-01-02T03:04:05.123456+00:00",
           "2030-01-02 03:04:05.123456Z",     // no T
           "2030-13-02T03:04:05.123456Z",     // month 13
           "2030-02-29T03:04:05.123456Z",     // not a leap year
           "2030-01-02T24:04:05.123456Z",     // hour 24
           "2030-01-02T03:60:05.123456Z",
           "2030-01-02T03:04:60.123456Z",
           "2030-01-02T03:04:05.12a456Z",
           "",
       }) {
    CAPTURE(bad);
    CHECK_FALSE(ParseMicroTime(bad).has_value());
  }
}

}  // namespace ha_sync::k8s
