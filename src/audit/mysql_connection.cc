#include "audit/mysql_connection.h"

#include <mysql.h>

#include <cstdio>
#include <cstring>
#include <mutex>

namespace ha_sync::audit {

namespace {

std::once_flag g_library_once;

class MySqlConnection;

class MySqlStatement : public SqlStatement {
 public:
  MySqlStatement(MySqlConnection* conn, MYSQL_STMT* stmt, std::string sql)
      : conn_(conn), stmt_(stmt), sql_(std::move(sql)) {}
  ~MySqlStatement() override {
    if (meta_ != nullptr) mysql_free_result(meta_);
    mysql_stmt_close(stmt_);
  }

  Status Init();
  Status Execute(const std::vector<SqlValue>& params) override;
  Result<bool> Next(SqlRow* row) override;
  void Reset() override {
    if (result_active_) {
      mysql_stmt_free_result(stmt_);
      mysql_stmt_reset(stmt_);
      result_active_ = false;
    }
  }
  int64_t affected_rows() const override { return affected_; }

 private:
  Status Error(const char* what) const;
  void BindColumn(size_t i);

  MySqlConnection* conn_;
  MYSQL_STMT* stmt_;
  const std::string sql_;
  MYSQL_RES* meta_ = nullptr;
  unsigned int columns_ = 0;
  bool result_active_ = false;
  int64_t affected_ = 0;

  // Result buffers, one per column, bound once per Execute.
  std::vector<MYSQL_BIND> out_;
  std::vector<long long> out_int_;
  std::vector<double> out_double_;
  std::vector<MYSQL_TIME> out_time_;
  std::vector<std::string> out_text_;
  std::vector<unsigned long> out_length_;
  std::vector<my_bool> out_null_;
  std::vector<my_bool> out_error_;
};

class MySqlConnection : public SqlConnection {
 public:
  MySqlConnection(MYSQL* mysql, Dsn dsn) : mysql_(mysql), dsn_(std::move(dsn)) {}
  ~MySqlConnection() override { mysql_close(mysql_); }

  SqlDialect dialect() const override { return SqlDialect::kMySql; }
  Result<std::unique_ptr<SqlStatement>> Prepare(const std::string& sql) override;
  Status Begin() override { return Query("START TRANSACTION", "begin transaction"); }
  Status Commit() override {
    if (mysql_commit(mysql_) != 0) return Error("commit");
    return Status::Ok();
  }
  Status Rollback() override {
    if (mysql_rollback(mysql_) != 0) return Error("rollback");
    return Status::Ok();
  }
  int64_t LastInsertId() override { return last_insert_id_; }
  std::string Describe() const override { return "mysql " + dsn_.Masked(); }

  Status Query(const char* sql, const char* what) {
    if (mysql_real_query(mysql_, sql, std::strlen(sql)) != 0) return Error(what);
    return Status::Ok();
  }
  Status Error(const std::string& what) const {
    return Status::Error(dsn_.Redact(what + " (" + Describe() + "): " + mysql_error(mysql_)));
  }
  const Dsn& dsn() const { return dsn_; }
  void set_last_insert_id(int64_t id) { last_insert_id_ = id; }

 private:
  MYSQL* mysql_;
  const Dsn dsn_;
  int64_t last_insert_id_ = 0;
};

Status MySqlStatement::Error(const char* what) const {
  std::string sql = sql_.substr(0, 60);
  if (sql.size() < sql_.size()) sql += "...";
  return Status::Error(conn_->dsn().Redact(std::string(what) + " '" + sql + "' (" +
                                           conn_->Describe() + "): " + mysql_stmt_error(stmt_)));
}

Status MySqlStatement::Init() {
  if (mysql_stmt_prepare(stmt_, sql_.data(), sql_.size()) != 0) return Error("prepare");
  columns_ = mysql_stmt_field_count(stmt_);
  if (columns_ > 0) meta_ = mysql_stmt_result_metadata(stmt_);
  out_.assign(columns_, MYSQL_BIND{});
  out_int_.assign(columns_, 0);
  out_double_.assign(columns_, 0);
  out_time_.assign(columns_, MYSQL_TIME{});
  out_text_.assign(columns_, std::string());
  out_length_.assign(columns_, 0);
  out_null_.assign(columns_, 0);
  out_error_.assign(columns_, 0);
  for (unsigned i = 0; i < columns_; ++i) BindColumn(i);
  return Status::Ok();
}

void MySqlStatement::BindColumn(size_t i) {
  MYSQL_BIND& b = out_[i];
  b = MYSQL_BIND{};
  b.length = &out_length_[i];
  b.is_null = &out_null_[i];
  b.error = &out_error_[i];
  const MYSQL_FIELD* f = meta_ != nullptr ? mysql_fetch_field_direct(meta_, static_cast<unsigned>(i))
                                          : nullptr;
  const enum_field_types type = f != nullptr ? f->type : MYSQL_TYPE_STRING;
  switch (type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = &out_int_[i];
      b.is_unsigned = (f->flags & UNSIGNED_FLAG) != 0;
      break;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
      b.buffer_type = MYSQL_TYPE_DOUBLE;
      b.buffer = &out_double_[i];
      break;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_DATE:
      b.buffer_type = MYSQL_TYPE_DATETIME;
      b.buffer = &out_time_[i];
      break;
    default:
      if (out_text_[i].size() < 256) out_text_[i].resize(256);
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = out_text_[i].data();
      b.buffer_length = out_text_[i].size();
      break;
  }
}

Status MySqlStatement::Execute(const std::vector<SqlValue>& params) {
  Reset();
  affected_ = 0;
  if (mysql_stmt_param_count(stmt_) != params.size()) {
    return Status::Error("execute '" + sql_.substr(0, 60) + "': " + std::to_string(params.size()) +
                         " values for " + std::to_string(mysql_stmt_param_count(stmt_)) +
                         " placeholders");
  }
  std::vector<MYSQL_BIND> in(params.size(), MYSQL_BIND{});
  std::vector<long long> ints(params.size());
  std::vector<double> doubles(params.size());
  std::vector<unsigned long> lengths(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    MYSQL_BIND& b = in[i];
    const SqlValue& v = params[i];
    if (std::holds_alternative<std::nullptr_t>(v)) {
      b.buffer_type = MYSQL_TYPE_NULL;
    } else if (const auto* n = std::get_if<int64_t>(&v)) {
      ints[i] = *n;
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = &ints[i];
    } else if (const auto* d = std::get_if<double>(&v)) {
      doubles[i] = *d;
      b.buffer_type = MYSQL_TYPE_DOUBLE;
      b.buffer = &doubles[i];
    } else {
      const std::string& s = std::get<std::string>(v);
      lengths[i] = s.size();
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = const_cast<char*>(s.data());
      b.buffer_length = s.size();
      b.length = &lengths[i];
    }
  }
  if (!params.empty() && mysql_stmt_bind_param(stmt_, in.data()) != 0) return Error("bind");
  if (mysql_stmt_execute(stmt_) != 0) return Error("execute");
  if (columns_ > 0) {
    for (unsigned i = 0; i < columns_; ++i) BindColumn(i);
    if (mysql_stmt_bind_result(stmt_, out_.data()) != 0) return Error("bind result");
    result_active_ = true;
  } else {
    affected_ = static_cast<int64_t>(mysql_stmt_affected_rows(stmt_));
    if (const auto id = mysql_stmt_insert_id(stmt_); id != 0) {
      conn_->set_last_insert_id(static_cast<int64_t>(id));
    }
  }
  return Status::Ok();
}

Result<bool> MySqlStatement::Next(SqlRow* row) {
  if (!result_active_) return false;
  const int rc = mysql_stmt_fetch(stmt_);
  if (rc == MYSQL_NO_DATA) {
    Reset();
    return false;
  }
  if (rc == 1) {
    Status s = Error("fetch");
    Reset();
    return s;
  }
  if (rc == MYSQL_DATA_TRUNCATED) {
    // A text column longer than its buffer: grow the buffer, fetch that
    // column again, and keep the bigger buffer bound for the next rows.
    bool rebind = false;
    for (unsigned i = 0; i < columns_; ++i) {
      if (!out_error_[i] || out_[i].buffer_type != MYSQL_TYPE_STRING) continue;
      out_text_[i].resize(out_length_[i]);
      BindColumn(i);
      if (mysql_stmt_fetch_column(stmt_, &out_[i], i, 0) != 0) {
        Status s = Error("fetch column");
        Reset();
        return s;
      }
      rebind = true;
    }
    if (rebind && mysql_stmt_bind_result(stmt_, out_.data()) != 0) return Error("bind result");
  }
  row->assign(columns_, SqlValue(nullptr));
  for (unsigned i = 0; i < columns_; ++i) {
    if (out_null_[i]) continue;
    switch (out_[i].buffer_type) {
      case MYSQL_TYPE_LONGLONG:
        (*row)[i] = static_cast<int64_t>(out_int_[i]);
        break;
      case MYSQL_TYPE_DOUBLE:
        (*row)[i] = out_double_[i];
        break;
      case MYSQL_TYPE_DATETIME: {
        const MYSQL_TIME& t = out_time_[i];
        char buf[40];
        std::snprintf(buf, sizeof buf, "%04u-%02u-%02u %02u:%02u:%02u.%03lu", t.year, t.month,
                      t.day, t.hour, t.minute, t.second, t.second_part / 1000);
        (*row)[i] = std::string(buf);
        break;
      }
      default:
        (*row)[i] = out_text_[i].substr(0, out_length_[i]);
        break;
    }
  }
  return true;
}

Result<std::unique_ptr<SqlStatement>> MySqlConnection::Prepare(const std::string& sql) {
  MYSQL_STMT* stmt = mysql_stmt_init(mysql_);
  if (stmt == nullptr) return Error("prepare");
  auto statement = std::make_unique<MySqlStatement>(this, stmt, sql);
  if (Status s = statement->Init(); !s.ok()) return s;
  return std::unique_ptr<SqlStatement>(std::move(statement));
}

}  // namespace

Result<std::unique_ptr<SqlConnection>> OpenMySqlConnection(const Dsn& dsn,
                                                           const SqlOpenOptions& options) {
  std::call_once(g_library_once, [] { mysql_library_init(0, nullptr, nullptr); });
  MYSQL* mysql = mysql_init(nullptr);
  if (mysql == nullptr) return Status::Error("mysql_init: out of memory");
  const unsigned connect_timeout = static_cast<unsigned>(dsn.connect_timeout_s);
  const unsigned read_timeout = static_cast<unsigned>(dsn.read_timeout_s);
  const unsigned write_timeout = static_cast<unsigned>(dsn.write_timeout_s);
  if (connect_timeout > 0) mysql_optionsv(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  if (read_timeout > 0) mysql_optionsv(mysql, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
  if (write_timeout > 0) mysql_optionsv(mysql, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout);
  mysql_optionsv(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  const unsigned no_infile = 0;
  mysql_optionsv(mysql, MYSQL_OPT_LOCAL_INFILE, &no_infile);
  // "localhost" would silently mean the default socket: tcp(...) means TCP.
  const unsigned protocol = dsn.unix_socket.empty() ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET;
  mysql_optionsv(mysql, MYSQL_OPT_PROTOCOL, &protocol);
  const my_bool yes = 1, no = 0;
  switch (dsn.tls) {
    case Dsn::Tls::kRequired:
      mysql_optionsv(mysql, MYSQL_OPT_SSL_ENFORCE, &yes);
      mysql_optionsv(mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
      break;
    case Dsn::Tls::kSkipVerify:
      mysql_optionsv(mysql, MYSQL_OPT_SSL_ENFORCE, &yes);
      mysql_optionsv(mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &no);
      break;
    case Dsn::Tls::kPreferred:
      mysql_ssl_set(mysql, nullptr, nullptr, nullptr, nullptr, nullptr);
      break;
    case Dsn::Tls::kDefault:
    case Dsn::Tls::kDisabled:
      break;
  }
  if (mysql_real_connect(mysql, dsn.unix_socket.empty() ? dsn.host.c_str() : nullptr,
                         dsn.user.c_str(), dsn.has_password ? dsn.password.c_str() : nullptr,
                         dsn.database.c_str(), static_cast<unsigned>(dsn.port),
                         dsn.unix_socket.empty() ? nullptr : dsn.unix_socket.c_str(), 0) == nullptr) {
    Status s = Status::Error(
        dsn.Redact("connect to mysql " + dsn.Masked() + ": " + mysql_error(mysql)));
    mysql_close(mysql);
    return s;
  }
  auto conn = std::make_unique<MySqlConnection>(mysql, dsn);
  // Times are UTC text; strict mode turns a too-long value into an error
  // instead of a silently truncated row.
  if (Status s = conn->Query("SET time_zone = '+00:00', sql_mode = "
                             "'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
                             "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
                             "set session");
      !s.ok()) {
    return s;
  }
  if (options.read_only) {
    if (Status s = conn->Query("SET SESSION TRANSACTION READ ONLY", "set read only"); !s.ok()) {
      return s;
    }
  }
  return std::unique_ptr<SqlConnection>(std::move(conn));
}

}  // namespace ha_sync::audit
