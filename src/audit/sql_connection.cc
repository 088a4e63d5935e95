#include "audit/sql_connection.h"

#include <cstdio>
#include <ctime>

#include "audit/civil_time.h"
#include "audit/mysql_connection.h"
#include "audit/sqlite_connection.h"

namespace ha_sync::audit {

Status SqlConnection::Exec(const std::string& sql, const std::vector<SqlValue>& params) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (Status s = (*stmt)->Execute(params); !s.ok()) return s;
  SqlRow row;
  for (;;) {
    auto more = (*stmt)->Next(&row);
    if (!more.ok()) return more.status();
    if (!*more) return Status::Ok();
  }
}

Result<std::vector<SqlRow>> SqlConnection::QueryAll(const std::string& sql,
                                                    const std::vector<SqlValue>& params) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (Status s = (*stmt)->Execute(params); !s.ok()) return s;
  std::vector<SqlRow> rows;
  for (;;) {
    SqlRow row;
    auto more = (*stmt)->Next(&row);
    if (!more.ok()) return more.status();
    if (!*more) return rows;
    rows.push_back(std::move(row));
  }
}

Result<std::unique_ptr<SqlConnection>> OpenSqlConnection(const Dsn& dsn,
                                                         const SqlOpenOptions& options) {
  if (dsn.kind == Dsn::Kind::kMySql) return OpenMySqlConnection(dsn, options);
  return OpenSqliteConnection(dsn, options);
}

std::string FormatSqlTime(int64_t ms) {
  int64_t days = ms / 86400000, rest = ms % 86400000;
  if (rest < 0) {
    rest += 86400000;
    --days;
  }
  int64_t y;
  int m, d;
  CivilFromDays(days, &y, &m, &d);
  if (y < 0 || y > 9999) y = 0;  // outside DATETIME's range; never a real time
  char buf[24];
  auto put = [&buf](int pos, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[pos + i] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  buf[4] = '-';
  put(5, m, 2);
  buf[7] = '-';
  put(8, d, 2);
  buf[10] = ' ';
  put(11, rest / 3600000, 2);
  buf[13] = ':';
  put(14, rest / 60000 % 60, 2);
  buf[16] = ':';
  put(17, rest / 1000 % 60, 2);
  buf[19] = '.';
  put(20, rest % 1000, 3);
  return std::string(buf, 23);
}

bool ParseSqlTime(const std::string& text, int64_t* ms) {
  int y, mo, d, h, mi, s, frac = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) !=
          6 ||
      consumed != 19) {
    return false;
  }
  if (text.size() > 19) {
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
  struct tm tm = {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  *ms = static_cast<int64_t>(timegm(&tm)) * 1000 + frac;
  return true;
}

bool GetInt(const SqlValue& v, int64_t* out) {
  if (const auto* n = std::get_if<int64_t>(&v)) {
    *out = *n;
    return true;
  }
  return false;
}

bool GetText(const SqlValue& v, std::string* out) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    *out = *s;
    return true;
  }
  return false;
}

}  // namespace ha_sync::audit
