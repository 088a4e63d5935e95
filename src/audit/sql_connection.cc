#include "audit/sql_connection.h"

#include <cstdio>
#include <ctime>

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
  const time_t secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int frac = static_cast<int>(ms - static_cast<int64_t>(secs) * 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
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
