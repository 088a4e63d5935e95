#include "audit/sql_connection.h"

#include <cstdio>
#include <ctime>

#include "ha_sync/utc_time.h"
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

std::string FormatSqlTime(int64_t ms) { return FormatUtc(ms, UtcStyle::kSql); }

bool ParseSqlTime(const std::string& text, int64_t* ms) { return ParseUtc(text, UtcStyle::kSql, ms); }

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
