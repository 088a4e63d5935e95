#include "k8s/micro_time.h"

#include <cstdio>

namespace ha_sync::k8s {

namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::microseconds;
using std::chrono::seconds;

bool ParseDigits(std::string_view text, size_t pos, size_t count, int* out) {
  int value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

}  // namespace

WallTime ToWallTime(std::chrono::system_clock::time_point t) { return floor<microseconds>(t); }

std::string FormatMicroTime(WallTime t) {
  const auto day = floor<days>(t);
  const std::chrono::year_month_day ymd{std::chrono::sys_days(day)};
  const std::chrono::hh_mm_ss<microseconds> tod{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02lld.%06lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                static_cast<long long>(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count()));
  return buf;
}

std::optional<WallTime> ParseMicroTime(std::string_view text) {
  // 0123456789012345678901234567
  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  if (text.size() != 27 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[26] != 'Z') {
    return std::nullopt;
  }
  int year, month, day, hour, minute, second, micros;
  if (!ParseDigits(text, 0, 4, &year) || !ParseDigits(text, 5, 2, &month) ||
      !ParseDigits(text, 8, 2, &day) || !ParseDigits(text, 11, 2, &hour) ||
      !ParseDigits(text, 14, 2, &minute) || !ParseDigits(text, 17, 2, &second) ||
      !ParseDigits(text, 20, 6, &micros)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  return WallTime(std::chrono::sys_days(ymd).time_since_epoch() + std::chrono::hours(hour) +
                  std::chrono::minutes(minute) + seconds(second) + microseconds(micros));
}

}  // namespace ha_sync::k8s
