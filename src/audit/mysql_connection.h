// SqlConnection over MariaDB Connector/C (libmariadb): MariaDB and MySQL 8.
// Server-side prepared statements (binary protocol), rows streamed
// (unbuffered), utf8mb4, TCP for tcp(...) and URL DSNs, the socket for
// unix(...). See sql_connection.h for the contract.
//
// Thread-safety: one thread per connection; the library is initialised once
// per process on first use.
#pragma once

#include <memory>

#include "audit/sql_connection.h"

namespace ha_sync::audit {

Result<std::unique_ptr<SqlConnection>> OpenMySqlConnection(const Dsn& dsn,
                                                           const SqlOpenOptions& options);

}  // namespace ha_sync::audit
