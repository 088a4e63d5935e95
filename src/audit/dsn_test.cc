#include "audit/dsn.h"

#include <doctest/doctest.h>

namespace ha_sync::audit {

TEST_CASE("the Go driver form, as in the production secret") {
  auto d = ParseDsn("hasync:pa:ss@word@tcp(mysql.infra.svc:3307)/general_db?parseTime=true&timeout=5s",
                    "/var/log/ha-sync");
  REQUIRE_MESSAGE(d.ok(), d.status().message());
  CHECK(d->kind == Dsn::Kind::kMySql);
  CHECK(d->user == "hasync");
  CHECK(d->password == "pa:ss@word");  // first ':' splits, last '@' ends the password
  CHECK(d->host == "mysql.infra.svc");
  CHECK(d->port == 3307);
  CHECK(d->database == "general_db");
  CHECK(d->connect_timeout_s == 5);
  CHECK(d->Masked() == "hasync:***@tcp(mysql.infra.svc:3307)/general_db?parseTime=true&timeout=5s");
  // Go-only parameters are accepted (times are UTC here whatever loc says).
  CHECK(ParseDsn("u:p@tcp(h)/db?parseTime=true&loc=Local&charset=utf8mb4", "/l").ok());
}

TEST_CASE("Go form defaults, unix sockets and IPv6") {
  auto d = ParseDsn("root@tcp(db)/x", "/l");
  REQUIRE(d.ok());
  CHECK(d->port == 3306);
  CHECK_FALSE(d->has_password);
  CHECK(d->Masked() == "root@tcp(db:3306)/x");

  d = ParseDsn("u:p@/x", "/l");
  REQUIRE(d.ok());
  CHECK(d->host == "127.0.0.1");

  d = ParseDsn("u:p@unix(/run/mysqld/mysqld.sock)/x?readTimeout=1m30s&writeTimeout=500ms", "/l");
  REQUIRE(d.ok());
  CHECK(d->unix_socket == "/run/mysqld/mysqld.sock");
  CHECK(d->read_timeout_s == 90);
  CHECK(d->write_timeout_s == 1);
  CHECK(d->Masked() == "u:***@unix(/run/mysqld/mysqld.sock)/x?readTimeout=1m30s&writeTimeout=500ms");

  d = ParseDsn("u:p@tcp([::1]:3310)/x?tls=skip-verify", "/l");
  REQUIRE(d.ok());
  CHECK(d->host == "::1");
  CHECK(d->port == 3310);
  CHECK(d->tls == Dsn::Tls::kSkipVerify);
  CHECK(d->Masked() == "u:***@tcp([::1]:3310)/x?tls=skip-verify");
}

TEST_CASE("the mysql:// URL form decodes user and password") {
  auto d = ParseDsn("mysql://ha%20sync:p%40ss%2Fw@db.local:3306/general_db", "/l");
  REQUIRE_MESSAGE(d.ok(), d.status().message());
  CHECK(d->user == "ha sync");
  CHECK(d->password == "p@ss/w");
  CHECK(d->host == "db.local");
  CHECK(d->database == "general_db");
  CHECK(d->Masked() == "mysql://ha sync:***@db.local:3306/general_db");
  // The raw and the decoded password are both redacted.
  CHECK(d->Redact("x p@ss/w y p%40ss%2Fw z") == "x *** y *** z");

  d = ParseDsn("mysql://u@h/db", "/l");
  REQUIRE(d.ok());
  CHECK(d->port == 3306);
}

TEST_CASE("SQLite DSNs and the empty default") {
  auto d = ParseDsn("sqlite:///var/lib/ha-sync/audit.db", "/l");
  REQUIRE(d.ok());
  CHECK(d->kind == Dsn::Kind::kSqlite);
  CHECK(d->sqlite_path == "/var/lib/ha-sync/audit.db");
  CHECK(d->Masked() == "sqlite:///var/lib/ha-sync/audit.db");

  d = ParseDsn("", "/var/log/ha-sync");
  REQUIRE(d.ok());
  CHECK(d->kind == Dsn::Kind::kSqlite);
  CHECK(d->sqlite_path == "/var/log/ha-sync/ha-sync.db");
}

TEST_CASE("malformed DSNs are clear errors that never echo the password") {
  const char* bad[] = {
      "sqlite://relative.db",
      "sqlite:relative.db",
      "sqlite:///dir/",
      "postgres://u:hunter2secret@h/db",
      "u:hunter2secret@tcp(h:99999)/db",
      "u:hunter2secret@tcp(h:port)/db",
      "u:hunter2secret@tcp(h:3306)",
      "u:hunter2secret@tcp(h:3306)/",
      "u:hunter2secret@udp(h)/db",
      "u:hunter2secret@tcp(h/db",
      "u:hunter2secret@tcp(h)/db?nosuchparam=1",
      "u:hunter2secret@tcp(h)/db?timeout=soon",
      "mysql://u:hunter2secret@h",
      "mysql://u:hunter2secret%zz@h/db",
      "mysql://u:hunter2secret@[::1/db",
      "just-a-word",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    auto d = ParseDsn(text, "/l");
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message().find("malformed database DSN") != std::string::npos);
    CHECK(d.status().message().find("hunter2secret") == std::string::npos);
  }
}

}  // namespace ha_sync::audit
