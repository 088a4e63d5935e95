// UTC timestamps as text, the one home of every format ha-sync writes or
// reads: ISO 8601 in opslogs and JSON, SQL DATETIME(3) in the database, a
// compact stamp in trash folder names. Milliseconds since the epoch.
//
// Written without the C library's locale and time-zone machinery
// (timegm/gmtime_r/sscanf/snprintf), which dominated the client's CPU time
// when millions of opslog lines are flushed. Proleptic Gregorian calendar;
// days are counted from 1970-01-01.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ha_sync {

enum class UtcStyle {
  kIso,      // "2026-11-25T20:03:10.123Z"
  kSql,      // "2026-11-25 20:03:10.123" (a year outside 0-9999 prints as 0000)
  kCompact,  // "20261125T200310Z" (whole seconds)
};

// Appends `ms` in `style` to `out`.
void AppendUtc(std::string* out, int64_t ms, UtcStyle style);
std::string FormatUtc(int64_t ms, UtcStyle style);
// FormatUtc(ms, UtcStyle::kIso).
std::string FormatUtcMs(int64_t ms);

// kIso: exactly the 24 characters FormatUtc writes. kSql: "YYYY-MM-DD
// HH:MM:SS" with an optional fraction of any number of digits (cut to
// milliseconds), as MySQL and SQLite return DATETIME(3). kCompact is not
// parsed. False (and *ms untouched) on anything else.
bool ParseUtc(std::string_view text, UtcStyle style, int64_t* ms);

// Days from 1970-01-01 to year-month-day (month 1-12).
constexpr int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                   // [0, 399]
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           // [0, 146096]
  return era * 146097 + doe - 719468;
}

// The inverse of DaysFromCivil.
constexpr void CivilFromDays(int64_t days, int64_t* y, int* m, int* d) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

}  // namespace ha_sync
