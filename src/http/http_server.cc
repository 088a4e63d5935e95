#include "http/http_server.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/responses.h"

namespace ha_sync::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class Session;

class HttpServer::Impl {
 public:
  Impl(const ServerOptions& options, Handler handler)
      : options_(options),
        handler_(std::move(handler)),
        ioc_(options.io_threads),
        work_(asio::make_work_guard(ioc_)),
        acceptor_(asio::make_strand(ioc_)),
        retry_timer_(acceptor_.get_executor()),
        handler_pool_(static_cast<size_t>(options.handler_threads)) {}

  Status Listen();
  void Run();
  void Stop();

  void Register(Session* s, std::weak_ptr<Session> w) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_[s] = std::move(w);
  }
  void Unregister(Session* s) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      sessions_.erase(s);
    }
    connections_.fetch_sub(1);
  }

  // Declared before the io_context and the pool: sessions still queued in
  // them are destroyed with them and unregister here.
  const ServerOptions options_;
  const Handler handler_;
  std::atomic<size_t> connections_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  asio::thread_pool handler_pool_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  bool stopped_ = false;

 private:
  void Accept();
};

namespace {

bool IsTimeout(const beast::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::operation_aborted;
}

}  // namespace

// One connection. All its steps run on its strand, one at a time.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}
  ~Session() { server_->Unregister(this); }

  void Start() {
    server_->Register(this, weak_from_this());
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::ReadHead, shared_from_this()));
  }

  // From any thread: closes the socket on the session's strand.
  void Close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->closing_ = true;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

 private:
  void ReadHead() {
    if (closing_ || server_->stopping_.load()) return;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_->options_.header_limit));
    parser_->body_limit(server_->options_.body_limit);
    stream_.expires_after(requests_ == 0 ? server_->options_.header_timeout
                                         : server_->options_.idle_timeout);
    beast_http::async_read_header(stream_, buffer_, *parser_,
                                  beast::bind_front_handler(&Session::OnHead, shared_from_this()));
  }

  void OnHead(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Dispatch();
    stream_.expires_after(server_->options_.body_timeout);
    beast_http::async_read(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  void OnReadError(const beast::error_code& ec) {
    // A client that went away or ran out of time gets nothing: it is gone
    // or is not sending; answering would only wait on it again.
    if (ec == beast_http::error::end_of_stream || IsTimeout(ec) || closing_ ||
        ec.category() == asio::error::get_system_category() ||
        ec.category() == asio::error::get_misc_category()) {
      return Shutdown();
    }
    Response res;
    if (ec == beast_http::error::header_limit) {
      res = ErrorResponse(beast_http::status::request_header_fields_too_large,
                          "request head too large");
    } else if (ec == beast_http::error::body_limit) {
      res = ErrorResponse(beast_http::status::payload_too_large, "request body too large");
    } else {
      res = ErrorResponse(beast_http::status::bad_request, "malformed request: " + ec.message());
    }
    Write(std::move(res), /*head=*/false, /*keep_alive=*/false);
  }

  void Dispatch() {
    ++requests_;
    auto req = std::make_shared<Request>(parser_->release());
    parser_.reset();
    // The handler's own time is not the client's fault: no deadline while
    // it runs (the write below sets one again).
    stream_.expires_never();
    asio::post(server_->handler_pool_, [self = shared_from_this(), req] {
      Response res;
      try {
        res = self->server_->handler_(*req);
      } catch (const std::exception& e) {
        res = ErrorResponse(beast_http::status::internal_server_error,
                            std::string("internal error: ") + e.what());
      }
      const bool head = req->method() == beast_http::verb::head;
      const bool keep_alive = req->keep_alive();
      asio::post(self->stream_.get_executor(),
                 [self, res = std::move(res), head, keep_alive]() mutable {
                   self->Write(std::move(res), head, keep_alive);
                 });
    });
  }

  void Write(Response res, bool head, bool keep_alive) {
    if (closing_) return;
    res.version(11);
    res.keep_alive(keep_alive && !server_->stopping_.load());
    if (!res.has_content_length() && !res.chunked()) res.prepare_payload();
    response_ = std::make_unique<Response>(std::move(res));
    serializer_ = std::make_unique<beast_http::response_serializer<beast_http::string_body>>(*response_);
    stream_.expires_after(server_->options_.write_timeout);
    auto done = beast::bind_front_handler(&Session::OnWrite, shared_from_this());
    if (head) {
      beast_http::async_write_header(stream_, *serializer_, std::move(done));
    } else {
      beast_http::async_write(stream_, *serializer_, std::move(done));
    }
  }

  void OnWrite(beast::error_code ec, size_t) {
    const bool keep = response_ && response_->keep_alive();
    serializer_.reset();
    response_.reset();
    if (ec || !keep) return Shutdown();
    ReadHead();
  }

  void Shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer::Impl* server_;
  beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  std::unique_ptr<Response> response_;
  std::unique_ptr<beast_http::response_serializer<beast_http::string_body>> serializer_;
  int64_t requests_ = 0;
  bool closing_ = false;
};

Status HttpServer::Impl::Listen() {
  beast::error_code ec;
  const auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return Status::Error("listen address '" + options_.host + "' is not an IP address");
  const tcp::endpoint endpoint(address, options_.port);
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Error("listen on " + where + ": " + ec.message(), ec.value());
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping_.load() || !acceptor_.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: try again shortly instead of
      // spinning on the error.
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([this](beast::error_code) {
        if (!stopping_.load()) Accept();
      });
      return;
    }
    if (connections_.load() >= options_.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      connections_.fetch_add(1);
      std::make_shared<Session>(std::move(socket), this)->Start();
    }
    Accept();
  });
}

void HttpServer::Impl::Run() {
  Accept();
  for (int i = 0; i < options_.io_threads; ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
}

void HttpServer::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  // The acceptor is closed before any session is looked at, and the threads
  // are let run until nothing is left: stopping the io_context outright
  // would drop queued closes and leave those sockets open until the server
  // object is destroyed. A session registered after the look below saw
  // stopping_ first and ends itself (ReadHead).
  std::promise<void> acceptor_closed;
  asio::post(acceptor_.get_executor(), [this, &acceptor_closed] {
    beast::error_code ec;
    acceptor_.close(ec);
    retry_timer_.cancel();
    acceptor_closed.set_value();
  });
  acceptor_closed.get_future().wait();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [raw, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->Close();
  live.clear();
  handler_pool_.stop();
  handler_pool_.join();
  work_.reset();
  for (auto& t : threads_) t.join();
  threads_.clear();
  ioc_.stop();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const ServerOptions& options,
                                                      Handler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  if (Status s = impl->Listen(); !s.ok()) return s;
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port_; }
size_t HttpServer::connections() const { return impl_->connections_.load(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace ha_sync::http
