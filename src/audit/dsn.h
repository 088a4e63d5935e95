// The audit database's address (a DSN) and its parsing.
//
// Accepted forms (docs/schema.md):
//   user:pass@tcp(host:3306)/general_db?param=value&...   the Go MySQL driver form
//   user:pass@unix(/run/mysqld/mysqld.sock)/general_db   the same, over a unix socket
//   mysql://user:pass@host:3306/general_db?param=value    URL form (user/pass %-decoded)
//   sqlite:///abs/path/ha-sync.db                         embedded SQLite file
//   "" (empty)                                            SQLite at <log-dir>/ha-sync.db
//
// MySQL parameters understood: timeout, readTimeout, writeTimeout (Go
// durations such as 5s, 500ms, 2m), tls (true | skip-verify | preferred |
// false). Parameters the Go driver accepts that do not change anything here
// (parseTime, loc, charset, collation, ...) are accepted and ignored;
// any other parameter is an error, so a typo is never silently dropped.
//
// Secrets: the password is kept in `password` only. Masked() and every
// error message ParseDsn returns never contain it (a malformed DSN is
// described, never echoed). Redact() removes the password from any text
// that may have picked it up (e.g. a driver's error message).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "ha_sync/status.h"

namespace ha_sync::audit {

struct Dsn {
  enum class Kind { kMySql, kSqlite };
  Kind kind = Kind::kSqlite;
  // How it was written, so Masked() can answer in the same form.
  enum class Form { kSqliteUrl, kDefaultSqlite, kGoTcp, kGoUnix, kMySqlUrl };
  Form form = Form::kDefaultSqlite;

  // kSqlite
  std::string sqlite_path;  // absolute

  // kMySql
  std::string user;
  std::string password;
  bool has_password = false;
  std::string host;         // empty when unix_socket is set
  int port = 3306;
  std::string unix_socket;  // unix(/path) form
  std::string database;
  int connect_timeout_s = 10;
  int read_timeout_s = 300;
  int write_timeout_s = 300;
  enum class Tls { kDefault, kPreferred, kRequired, kSkipVerify, kDisabled };
  Tls tls = Tls::kDefault;
  std::string params;        // the "?..." part as given (no secrets), for Masked()
  std::string password_raw;  // the password as written (%-encoded in URLs), for Redact()

  // The DSN for messages: the same form as given, password as "***".
  std::string Masked() const;
  // `text` with every occurrence of the password replaced by "***".
  std::string Redact(std::string text) const;
};

// Parses `text`; an empty text means SQLite at `<log_dir>/ha-sync.db`.
// The error message is suitable for a usage error (exit 64) and never
// contains the password.
Result<Dsn> ParseDsn(const std::string& text, const std::string& log_dir);

// The DSN text a program uses: --db-dsn when given, else env HA_SYNC_DB_DSN
// (`env`, nullptr when unset), else "" (SQLite). An env value that is set
// but empty is an error: a missing Secret key must not quietly send the
// audit to a local SQLite file.
Result<std::string> ChooseDsn(bool flag_given, const std::string& flag_value, const char* env);

}  // namespace ha_sync::audit
