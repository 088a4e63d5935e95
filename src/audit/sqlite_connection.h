// SqlConnection over SQLite 3: one database file shared by several processes
// (WAL journal on a local file system, the rollback journal on a network one
// such as NFS, where WAL's shared memory does not reach other hosts; busy
// timeout, BEGIN IMMEDIATE for write transactions,
// synchronous=FULL so a commit survives a power cut before the opslog that
// fed it is deleted). See sql_connection.h for the contract.
//
// Thread-safety: one thread per connection.
#pragma once

#include <memory>

#include "audit/sql_connection.h"

namespace ha_sync::audit {

Result<std::unique_ptr<SqlConnection>> OpenSqliteConnection(const Dsn& dsn,
                                                            const SqlOpenOptions& options);

}  // namespace ha_sync::audit
