#include "ha_sync/utc_time.h"

namespace ha_sync {

namespace {

// Writes `v` as `width` digits at `p` (leading zeros; the lowest digits
// when it is wider).
void PutDigits(char* p, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
}

// Digits [pos, pos + len) of `text` as a number; false on a non-digit.
bool GetDigits(std::string_view text, size_t pos, size_t len, int* out) {
  int v = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    v = v * 10 + (text[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

void AppendUtc(std::string* out, int64_t ms, UtcStyle style) {
  int64_t days = ms / 86400000, rest = ms % 86400000;
  if (rest < 0) {
    rest += 86400000;
    --days;
  }
  int64_t y;
  int m, d;
  CivilFromDays(days, &y, &m, &d);
  const int64_t hh = rest / 3600000, mm = rest / 60000 % 60, ss = rest / 1000 % 60;
  if (style == UtcStyle::kCompact) {
    char buf[] = "00000000T000000Z";
    PutDigits(buf, y, 4);
    PutDigits(buf + 4, m, 2);
    PutDigits(buf + 6, d, 2);
    PutDigits(buf + 9, hh, 2);
    PutDigits(buf + 11, mm, 2);
    PutDigits(buf + 13, ss, 2);
    out->append(buf, sizeof buf - 1);
    return;
  }
  if (style == UtcStyle::kSql && (y < 0 || y > 9999)) y = 0;  // outside DATETIME; never a real time
  char buf[] = "0000-00-00T00:00:00.000Z";
  if (style == UtcStyle::kSql) buf[10] = ' ';
  PutDigits(buf, y, 4);
  PutDigits(buf + 5, m, 2);
  PutDigits(buf + 8, d, 2);
  PutDigits(buf + 11, hh, 2);
  PutDigits(buf + 14, mm, 2);
  PutDigits(buf + 17, ss, 2);
  PutDigits(buf + 20, rest % 1000, 3);
  out->append(buf, style == UtcStyle::kSql ? 23 : 24);
}

std::string FormatUtc(int64_t ms, UtcStyle style) {
  std::string out;
  AppendUtc(&out, ms, style);
  return out;
}

std::string FormatUtcMs(int64_t ms) { return FormatUtc(ms, UtcStyle::kIso); }

bool ParseUtc(std::string_view text, UtcStyle style, int64_t* ms) {
  if (style == UtcStyle::kCompact || text.size() < 19) return false;
  const char date_time = style == UtcStyle::kIso ? 'T' : ' ';
  if (text[4] != '-' || text[7] != '-' || text[10] != date_time || text[13] != ':' ||
      text[16] != ':') {
    return false;
  }
  int y, mo, d, h, mi, s, frac = 0;
  if (!GetDigits(text, 0, 4, &y) || !GetDigits(text, 5, 2, &mo) || !GetDigits(text, 8, 2, &d) ||
      !GetDigits(text, 11, 2, &h) || !GetDigits(text, 14, 2, &mi) || !GetDigits(text, 17, 2, &s) ||
      mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
    return false;
  }
  if (style == UtcStyle::kIso) {
    if (text.size() != 24 || text[19] != '.' || text[23] != 'Z' || !GetDigits(text, 20, 3, &frac)) {
      return false;
    }
  } else if (text.size() > 19) {
    // ".m", ".mm", ".mmm" or more digits (microseconds are cut to ms).
    if (text[19] != '.' || text.size() == 20) return false;
    int digits = 0;
    for (size_t i = 20; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      if (digits < 3) frac = frac * 10 + (text[i] - '0');
      ++digits;
    }
    for (; digits < 3; ++digits) frac *= 10;
  }
  *ms = (DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000 + frac;
  return true;
}

}  // namespace ha_sync
