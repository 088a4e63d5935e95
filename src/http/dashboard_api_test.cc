// The dashboard API over HTTP against real databases: always SQLite, and
// MariaDB when the harness (tests/mariadb_server.sh) started one. The same
// cases run on both.
#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <atomic>
#include <set>
#include <thread>

#include "support/test_databases.h"
#include "ha_sync/text.h"
#include "http/dashboard_app.h"
#include "http/dashboard_seed.h"
#include "http/http_server.h"
#include "http/read_only_db.h"
#include "http/static_assets.h"
#include "support/test_client.h"

namespace ha_sync::http {
namespace {

namespace json = boost::json;
using audit::testing::TempDir;
using audit::testing::TestDatabase;
using audit::testing::TestDatabases;
using testing::Client;
using testing::Fetch;
using testing::Reply;

// A running ha-sync-ui (in process) over one database.
class Dashboard {
 public:
  explicit Dashboard(const audit::Dsn& dsn, DashboardOptions options = {})
      : db_(dsn, {std::chrono::milliseconds(200), 8}), app_(&db_, std::move(options)) {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.header_timeout = std::chrono::milliseconds(1500);
    o.idle_timeout = std::chrono::milliseconds(1500);
    auto server = HttpServer::Start(o, [this](const Request& r) { return app_.Handle(r); });
    REQUIRE_MESSAGE(server.ok(), server.status().message());
    server_ = std::move(*server);
  }
  uint16_t port() const { return server_->port(); }
  Reply Get(const std::string& target) { return Fetch(port(), target); }
  json::value GetJson(const std::string& target, int expect_status = 200) {
    Reply r = Get(target);
    CHECK_MESSAGE(r.status == expect_status, target << " -> " << r.status << " " << r.body);
    CHECK(r.header("content-type") == "application/json");
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    CHECK_MESSAGE(!ec, "not JSON: " << r.body);
    return v;
  }

 private:
  ReadOnlyDb db_;
  DashboardApp app_;
  std::unique_ptr<HttpServer> server_;
};

const json::object* FindPair(const json::value& pairs, const std::string& name) {
  for (const json::value& p : pairs.at("pairs").as_array()) {
    if (p.at("pair").as_string() == name) return &p.as_object();
  }
  return nullptr;
}

const json::object* FindDirection(const json::object& pair, const std::string& direction) {
  for (const json::value& d : pair.at("directions").as_array()) {
    if (d.at("direction").as_string() == direction) return &d.as_object();
  }
  return nullptr;
}

bool AnyContains(const json::array& list, const std::string& needle) {
  for (const json::value& v : list) {
    if (std::string(v.as_string()).find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string ErrorOf(const Reply& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("error")) return "<no JSON error: " + r.body + ">";
  return std::string(v.at("error").as_string());
}

// Seeds the standard data set into every test database.
struct SeededDatabases {
  TempDir dir;
  TestDatabases dbs{dir.path()};
  int64_t now = NowMs();
  SeededDatabases() {
    for (const TestDatabase& db : dbs.all()) {
      Status s = testing::SeedStandard(db.dsn, now);
      REQUIRE_MESSAGE(s.ok(), db.name << ": " << s.message());
    }
  }
};

TEST_CASE("/api/pairs: last real run, running run and last dry-run per pair and direction") {
  SeededDatabases seeded;
  for (const TestDatabase& db : seeded.dbs.all()) {
    CAPTURE(db.name);
    Dashboard ui(db.dsn);
    json::value v = ui.GetJson("/api/pairs");
    REQUIRE(v.at("pairs").as_array().size() == 6);
    std::vector<std::string> names;
    for (const auto& p : v.at("pairs").as_array()) names.emplace_back(p.at("pair").as_string());
    CHECK(names == std::vector<std::string>{"ai", "games", "infra", "media", "owncloud", "photos"});
    CHECK(v.at("stale_after_seconds").as_int64() == 3600);
    CHECK(v.at("now").as_string().size() == 24);  // 2026-11-25T20:03:10.123Z

    const json::object* media = FindPair(v, "media");
    REQUIRE(media != nullptr);
    CHECK(media->at("attention").as_array().empty());
    const json::object* d2h = FindDirection(*media, "dell-to-hp");
    REQUIRE(d2h != nullptr);
    const json::object& real = d2h->at("last_real").as_object();
    CHECK(real.at("files_created").as_int64() == 12);
    CHECK(real.at("files_updated").as_int64() == 3);
    CHECK(real.at("files_deleted").as_int64() == 1);
    CHECK(real.at("files_failed").as_int64() == 0);
    CHECK(real.at("bytes_transferred").as_int64() == 5000000);
    CHECK(real.at("duration_seconds").as_double() == doctest::Approx(40.0));
    CHECK(real.at("conflict_copies").as_int64() == 1);
    CHECK(real.at("status").as_string() == "success");
    CHECK(real.at("dry_run").as_bool() == false);
    CHECK(real.at("run_id").as_string().size() == 32);
    CHECK(real.at("src").as_string() == "/mnt/dell/media");
    CHECK(real.at("dest").as_string() == "/mnt/hp/media");
    CHECK(real.at("error_message").is_null());
    const json::object& dry = d2h->at("last_dry_run").as_object();
    CHECK(dry.at("files_created").as_int64() == 4);
    CHECK(dry.at("dry_run").as_bool());
    CHECK(d2h->at("running").is_null());
    CHECK(d2h->at("last_success_real_at").as_string() == real.at("ended_at").as_string());
    CHECK(FindDirection(*media, "hp-to-dell")->at("last_real").at("files_created").as_int64() == 2);

    const json::object* photos = FindPair(v, "photos");
    REQUIRE(photos != nullptr);
    CHECK(AnyContains(photos->at("attention").as_array(), "dell-to-hp: last sync partial_failure (2 failed)"));
    CHECK(FindDirection(*photos, "hp-to-dell")->at("attention").as_array().empty());

    const json::object* owncloud = FindPair(v, "owncloud");
    CHECK(AnyContains(owncloud->at("attention").as_array(), "dell-to-hp: no run for 3 h"));

    const json::object* infra = FindPair(v, "infra");
    CHECK(AnyContains(infra->at("attention").as_array(), "last sync failed"));
    CHECK(std::string(FindDirection(*infra, "dell-to-hp")->at("last_real").at("error_message").as_string())
              .find("marker") != std::string::npos);

    const json::object* ai = FindPair(v, "ai");
    const json::object* ai_dir = FindDirection(*ai, "dell-to-hp");
    REQUIRE(ai_dir->at("running").is_object());
    CHECK(ai_dir->at("running").at("status").as_string() == "running");
    CHECK(ai_dir->at("running").at("ended_at").is_null());
    CHECK(ai_dir->at("last_real").at("status").as_string() == "success");
    CHECK(ai->at("attention").as_array().empty());

    const json::object* games = FindPair(v, "games");
    const json::object* games_dir = FindDirection(*games, "dell-to-hp");
    CHECK(games_dir->at("last_real").is_null());
    CHECK(games_dir->at("last_dry_run").at("files_created").as_int64() == 1);
  }
}

TEST_CASE("/api/pairs: the pending plan, its biggest deletes first, and whether it was applied") {
  TempDir dir;
  TestDatabases dbs(dir.path());
  const int64_t now = NowMs();
  for (const TestDatabase& db : dbs.all()) {
    CAPTURE(db.name);
    testing::SeededRun plan = testing::MakeRun(
        "music", "dell-to-hp", true, now - 10 * 60000, 2,
        {testing::Op(OpKind::kCreate, "new.flac", 10), testing::Op(OpKind::kUpdate, "a.flac", 20),
         testing::Op(OpKind::kDelete, "small.flac", 5), testing::Op(OpKind::kDelete, "huge.flac", 900),
         testing::Op(OpKind::kDelete, "mid\xff.flac", 300),
         testing::Op(OpKind::kUpdate, "both.flac", 7, false, "conflict: equal mtime")});
    plan.footer.status = RunStatus::kSuccess;  // a planned conflict does not fail a dry-run
    REQUIRE(testing::WriteRun(db.dsn, plan).ok());
    Dashboard ui(db.dsn);
    json::value v = ui.GetJson("/api/pairs");
    const json::object* dir_json = FindDirection(*FindPair(v, "music"), "dell-to-hp");
    REQUIRE(dir_json != nullptr);
    const json::object& p = dir_json->at("plan").as_object();
    const int64_t id = dir_json->at("last_dry_run").at("id").as_int64();
    CHECK(p.at("id").as_int64() == id);
    CHECK(p.at("operations").at("create").as_int64() == 1);
    CHECK(p.at("operations").at("update").as_int64() == 1);
    CHECK(p.at("operations").at("delete").as_int64() == 3);
    CHECK(p.at("operations").at("conflict").as_int64() == 1);
    const json::array& deletes = p.at("biggest_deletes").as_array();
    REQUIRE(deletes.size() == 3);
    CHECK(deletes[0].at("display_path").as_string() == "huge.flac");
    CHECK(deletes[0].at("size_before").as_int64() == 900);
    CHECK(deletes[1].at("size_before").as_int64() == 300);
    CHECK(deletes[2].at("display_path").as_string() == "small.flac");
    CHECK(p.at("operations_url").as_string() == "/api/operations?iteration_id=" + std::to_string(id));
    CHECK(ui.GetJson(std::string(p.at("operations_url").as_string())).at("operations").as_array().size() == 6);
    CHECK(p.at("applied").as_bool() == false);
    CHECK(p.at("applied_by").is_null());

    // The run that applied it links back (sync_iterations.plan_id).
    testing::SeededRun apply = testing::MakeRun("music", "dell-to-hp", false, now - 5 * 60000, 3,
                                                {testing::Op(OpKind::kCreate, "new.flac", 10)});
    apply.header.plan_id = id;
    REQUIRE(testing::WriteRun(db.dsn, apply).ok());
    v = ui.GetJson("/api/pairs");
    const json::object& applied = FindDirection(*FindPair(v, "music"), "dell-to-hp")->at("plan").as_object();
    CHECK(applied.at("applied").as_bool());
    CHECK(applied.at("applied_by").at("id").as_int64() ==
          FindDirection(*FindPair(v, "music"), "dell-to-hp")->at("last_real").at("id").as_int64());
    CHECK(applied.at("applied_by").at("status").as_string() == "success");
    const json::object& apply_run = FindDirection(*FindPair(v, "music"), "dell-to-hp")->at("last_real").as_object();
    CHECK(apply_run.at("plan_id").as_int64() == id);
    CHECK(apply_run.at("files_stale").as_int64() == 0);
    CHECK(FindDirection(*FindPair(v, "music"), "dell-to-hp")->at("last_dry_run").at("plan_id").is_null());
  }
}

TEST_CASE("/api/pairs: a stale threshold is configurable") {
  SeededDatabases seeded;
  const TestDatabase& db = seeded.dbs.all().front();
  DashboardOptions options;
  options.stale_after_seconds = 4 * 3600;
  Dashboard ui(db.dsn, options);
  json::value v = ui.GetJson("/api/pairs");
  CHECK(FindPair(v, "owncloud")->at("attention").as_array().empty());
}

TEST_CASE("/api/iterations: filters and keyset pages") {
  SeededDatabases seeded;
  for (const TestDatabase& db : seeded.dbs.all()) {
    CAPTURE(db.name);
    Dashboard ui(db.dsn);
    json::value first = ui.GetJson("/api/iterations");
    CHECK(first.at("limit").as_int64() == 20);
    CHECK(first.at("iterations").as_array().size() == 18);  // all of them
    CHECK(first.at("next_before_id").is_null());

    // Pages of 5, newest first, every row once.
    std::vector<int64_t> ids;
    std::vector<std::pair<std::string, int64_t>> order;
    std::string target = "/api/iterations?limit=5";
    for (int page = 0; page < 10; ++page) {
      json::value v = ui.GetJson(target);
      for (const auto& it : v.at("iterations").as_array()) {
        ids.push_back(it.at("id").as_int64());
        order.emplace_back(std::string(it.at("started_at").as_string()), it.at("id").as_int64());
      }
      if (v.at("next_before_id").is_null()) break;
      CHECK(v.at("iterations").as_array().size() == 5);
      target = "/api/iterations?limit=5&before_id=" + std::to_string(v.at("next_before_id").as_int64());
    }
    CHECK(ids.size() == 18);
    CHECK(std::set<int64_t>(ids.begin(), ids.end()).size() == 18);
    CHECK(std::is_sorted(order.rbegin(), order.rend()));
    CHECK(order.front().first == first.at("iterations").at(0).at("started_at").as_string());
    // The newest is the running ai run (1 min ago), the oldest the owncloud run (3 h ago).
    CHECK(first.at("iterations").at(0).at("status").as_string() == "running");
    CHECK(first.at("iterations").at(17).at("pair").as_string() == "owncloud");

    json::value media = ui.GetJson("/api/iterations?pair=media&dry_run=0&limit=100");
    CHECK(media.at("iterations").as_array().size() == 10);
    int with_clock = 0;
    for (const auto& it : media.at("iterations").as_array()) {
      CHECK(it.at("pair").as_string() == "media");
      CHECK(it.at("dry_run").as_bool() == false);
      // Only the run whose probe was seeded carries clock readings; others are null.
      if (!it.at("clock_skew_seconds").is_null()) {
        ++with_clock;
        CHECK(it.at("clock_skew_seconds").to_number<double>() == doctest::Approx(1.25));
        CHECK(it.at("mtime_precision_ns").as_int64() == 1000);
        CHECK(it.at("files_created").as_int64() == 12);
      } else {
        CHECK(it.at("mtime_precision_ns").is_null());
      }
    }
    CHECK(with_clock == 1);
    json::value dry = ui.GetJson("/api/iterations?dry_run=1");
    CHECK(dry.at("iterations").as_array().size() == 2);
    json::value failed = ui.GetJson("/api/iterations?status=failed");
    REQUIRE(failed.at("iterations").as_array().size() == 1);
    CHECK(failed.at("iterations").at(0).at("pair").as_string() == "infra");
    json::value running = ui.GetJson("/api/iterations?status=running");
    REQUIRE(running.at("iterations").as_array().size() == 1);
    CHECK(running.at("iterations").at(0).at("duration_seconds").is_null());
    json::value dir = ui.GetJson("/api/iterations?pair=media&direction=hp-to-dell");
    CHECK(dir.at("iterations").as_array().size() == 5);
    CHECK(ui.GetJson("/api/iterations?pair=nosuchpair").at("iterations").as_array().empty());
    // A pair name with quotes and SQL in it is just a value.
    CHECK(ui.GetJson("/api/iterations?pair=x%27%20OR%20%271%27%3D%271").at("iterations").as_array().empty());
  }
}

TEST_CASE("/api/operations: rows as stored plus a display form, failed-only filter, 404") {
  SeededDatabases seeded;
  for (const TestDatabase& db : seeded.dbs.all()) {
    CAPTURE(db.name);
    Dashboard ui(db.dsn);
    json::value pairs = ui.GetJson("/api/pairs");
    const int64_t media_id =
        FindDirection(*FindPair(pairs, "media"), "dell-to-hp")->at("last_real").at("id").as_int64();
    const int64_t photos_id =
        FindDirection(*FindPair(pairs, "photos"), "dell-to-hp")->at("last_real").at("id").as_int64();

    json::value v = ui.GetJson("/api/operations?iteration_id=" + std::to_string(media_id));
    CHECK(v.at("iteration").at("id").as_int64() == media_id);
    const json::array& ops = v.at("operations").as_array();
    REQUIRE(ops.size() == 16);
    CHECK(v.at("next_after_id").is_null());
    CHECK(v.at("limit").as_int64() == 100);
    const json::object& xss = ops.at(0).as_object();
    CHECK(xss.at("filepath").as_string() == testing::kXssName);
    CHECK(xss.at("display_path").as_string() == testing::kXssName);
    CHECK(xss.at("path_encoding").as_string() == "utf-8");
    CHECK(xss.at("operation").as_string() == "create");
    CHECK(xss.at("size_before").is_null());
    CHECK(xss.at("size_after").as_int64() == 1000);
    CHECK(xss.at("md5_after").as_string().size() == 32);
    CHECK(xss.at("status").as_string() == "success");
    CHECK(xss.at("is_conflict_copy").as_bool() == false);
    CHECK(ops.at(1).at("is_conflict_copy").as_bool());
    CHECK(ops.at(15).at("operation").as_string() == "delete");
    CHECK(ops.at(15).at("size_before").as_int64() == 77);

    json::value fails = ui.GetJson("/api/operations?status=fail&iteration_id=" + std::to_string(photos_id));
    const json::array& failed = fails.at("operations").as_array();
    REQUIRE(failed.size() == 2);
    const json::object& raw = failed.at(0).as_object();
    CHECK(raw.at("path_encoding").as_string() == "base64");
    CHECK(raw.at("filepath").as_string() == EncodePathForText(testing::kNonUtf8Name));
    CHECK(raw.at("display_path").as_string() == "raw/\\xff\\xfe-bytes.jpg");
    CHECK(raw.at("status").as_string() == "fail");
    CHECK(failed.at(1).at("error_message").as_string() == testing::kXssError);
    CHECK(ui.GetJson("/api/operations?status=success&iteration_id=" + std::to_string(photos_id))
              .at("operations").as_array().size() == 5);

    Reply missing = ui.Get("/api/operations?iteration_id=999999");
    CHECK(missing.status == 404);
    CHECK(ErrorOf(missing) == "no iteration with id 999999");
  }
}

TEST_CASE("/api/operations: a large run is paged by id without gaps or repeats") {
  TempDir dir;
  TestDatabases dbs(dir.path());
  for (const TestDatabase& db : dbs.all()) {
    CAPTURE(db.name);
    std::vector<OpRecord> ops;
    for (int i = 0; i < 2345; ++i) {
      const bool fail = i % 7 == 3;
      ops.push_back(testing::Op(OpKind::kCreate, "big/f" + std::to_string(i), i, !fail,
                                fail ? "write: No space left on device" : ""));
    }
    REQUIRE(testing::WriteRun(db.dsn, testing::MakeRun("big", "a-to-b", false, NowMs() - 60000, 50, ops)).ok());
    Dashboard ui(db.dsn);
    json::value list = ui.GetJson("/api/iterations?pair=big");
    const int64_t id = list.at("iterations").at(0).at("id").as_int64();

    auto page_all = [&](const std::string& extra, int64_t limit) {
      std::vector<int64_t> seen;
      std::vector<size_t> sizes;
      int64_t after = 0;
      for (int guard = 0; guard < 100; ++guard) {
        json::value v = ui.GetJson("/api/operations?iteration_id=" + std::to_string(id) + extra +
                                   "&limit=" + std::to_string(limit) + "&after_id=" + std::to_string(after));
        sizes.push_back(v.at("operations").as_array().size());
        for (const auto& op : v.at("operations").as_array()) seen.push_back(op.at("id").as_int64());
        if (v.at("next_after_id").is_null()) break;
        after = v.at("next_after_id").as_int64();
        CHECK(after == seen.back());
      }
      return std::make_pair(seen, sizes);
    };
    auto [all, sizes] = page_all("", 1000);
    CHECK(all.size() == 2345);
    CHECK(sizes == std::vector<size_t>{1000, 1000, 345});
    CHECK(std::set<int64_t>(all.begin(), all.end()).size() == 2345);
    CHECK(std::is_sorted(all.begin(), all.end()));
    auto [failed, fsizes] = page_all("&status=fail", 100);
    CHECK(failed.size() == 335);  // i % 7 == 3 for i < 2345
    CHECK(fsizes.size() == 4);
  }
}

TEST_CASE("bad input: 400 with a JSON error, unknown route 404, other methods 405") {
  SeededDatabases seeded;
  const TestDatabase& db = seeded.dbs.all().front();
  Dashboard ui(db.dsn);
  const std::pair<std::string, std::string> bad[] = {
      {"/api/iterations?limit=0", "parameter 'limit' must be a whole number from 1 to 500, got '0'"},
      {"/api/iterations?limit=501", "parameter 'limit' must be a whole number from 1 to 500, got '501'"},
      {"/api/iterations?limit=abc", "parameter 'limit' must be a whole number from 1 to 500, got 'abc'"},
      {"/api/iterations?limit=10&limit=20", "parameter 'limit' is given more than once"},
      {"/api/iterations?before_id=0", "parameter 'before_id' must be a whole number from 1 to 9223372036854775807, got '0'"},
      {"/api/iterations?dry_run=2", "parameter 'dry_run' must be a whole number from 0 to 1, got '2'"},
      {"/api/iterations?status=done", "parameter 'status' must be running, success, partial_failure or failed"},
      {"/api/iterations?pair=%FF", "parameter 'pair' is not valid UTF-8: '\\xff'"},
      {"/api/iterations?pa%C4%B1r=x", "unknown parameter 'paır'; known: pair, direction, dry_run, status, before_id, limit"},
      {"/api/operations", "parameter 'iteration_id' is required"},
      {"/api/operations?iteration_id=-1", "parameter 'iteration_id' must be a whole number from 1 to 9223372036854775807, got '-1'"},
      {"/api/operations?iteration_id=99999999999999999999", "parameter 'iteration_id' must be a whole number from 1 to 9223372036854775807, got '99999999999999999999'"},
      {"/api/operations?iteration_id=1&limit=1001", "parameter 'limit' must be a whole number from 1 to 1000, got '1001'"},
      {"/api/operations?iteration_id=1&status=failed", "parameter 'status' must be success or fail"},
      {"/api/operations?iteration_id=1&after_id=x", "parameter 'after_id' must be a whole number from 0 to 9223372036854775807, got 'x'"},
      {"/api/operations?iteration=1", "unknown parameter 'iteration'; known: iteration_id, status, after_id, limit"},
      {"/api/pairs?x=1", "unknown parameter 'x'; this route takes none"},
      {"/api/pairs?a=%G1", "bad percent-encoding in the query"},
  };
  for (const auto& [target, message] : bad) {
    CAPTURE(target);
    Reply r = ui.Get(target);
    CHECK(r.status == 400);
    CHECK(r.header("content-type") == "application/json");
    CHECK(ErrorOf(r) == message);
  }
  Reply nf = ui.Get("/api/nothing");
  CHECK(nf.status == 404);
  CHECK(ErrorOf(nf) == "no such route: /api/nothing");
  CHECK(ui.Get("/index.htm").status == 404);
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    for (const char* target : {"/api/pairs", "/", "/nothing"}) {
      Reply r = Fetch(ui.port(), target, method);
      CHECK(r.status == 405);
      CHECK(r.header("allow") == "GET, HEAD");
      CHECK(ErrorOf(r) == "method not allowed: use GET or HEAD");
    }
  }
  Reply head = Fetch(ui.port(), "/api/pairs", "HEAD");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

TEST_CASE("the page and its assets: security headers, no inline script, no HTML sinks") {
  SeededDatabases seeded;
  Dashboard ui(seeded.dbs.all().front().dsn);
  Reply page = ui.Get("/");
  REQUIRE(page.status == 200);
  CHECK(page.header("content-type") == "text/html; charset=utf-8");
  const std::string csp = page.header("content-security-policy");
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(csp.find("unsafe-eval") == std::string::npos);
  CHECK(page.header("x-content-type-options") == "nosniff");
  CHECK(page.header("referrer-policy") == "no-referrer");
  CHECK(page.header("x-frame-options") == "DENY");
  CHECK(page.body.find("<script src=\"/app.js\"") != std::string::npos);
  CHECK(page.body.find("<script>") == std::string::npos);
  CHECK(page.body.find("style=") == std::string::npos);
  CHECK(page.body.find("http://") == std::string::npos);  // no external assets
  CHECK(page.body.find("https://") == std::string::npos);

  Reply js = ui.Get("/app.js");
  REQUIRE(js.status == 200);
  CHECK(js.header("content-type") == "text/javascript; charset=utf-8");
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                           "new Function", "setAttribute('style'", "https://"}) {
    CAPTURE(sink);
    CHECK(js.body.find(sink) == std::string::npos);
  }
  CHECK(ui.Get("/app.css").header("content-type") == "text/css; charset=utf-8");
  CHECK(ui.Get("/favicon.svg").status == 200);
  CHECK(ui.Get("/?x=1").status == 400);
  // The JSON answers carry the same headers.
  CHECK(ui.Get("/api/pairs").header("content-security-policy") == csp);
}

TEST_CASE("an undo is a one-off: never 'no run for ...', never a last-success series to alert on") {
  SeededDatabases seeded;
  for (const TestDatabase& db : seeded.dbs.all()) {
    CAPTURE(db.name);
    // media's undo ran 3 h ago (stale-after is 1 h).
    REQUIRE(testing::WriteRun(db.dsn, testing::MakeRun("media", kUndoDirection, false, seeded.now - 3 * 3600 * 1000,
                                                        2.0, {testing::Op(OpKind::kDelete, "a", 1)}))
                .ok());
    Dashboard ui(db.dsn);
    json::value v = ui.GetJson("/api/pairs");
    const json::object* media = FindPair(v, "media");
    REQUIRE(media != nullptr);
    REQUIRE(FindDirection(*media, kUndoDirection) != nullptr);  // still shown
    CHECK(media->at("attention").as_array().empty());
    const std::string m = ui.Get("/metrics").body;
    CHECK(m.find("ha_sync_last_success_timestamp_seconds{pair=\"media\",direction=\"undo\"") == std::string::npos);
    CHECK(m.find("ha_sync_last_success_timestamp_seconds{pair=\"media\",direction=\"dell-to-hp\"") !=
          std::string::npos);
  }
}

TEST_CASE("/metrics: Prometheus text per pair, direction and mode") {
  SeededDatabases seeded;
  for (const TestDatabase& db : seeded.dbs.all()) {
    CAPTURE(db.name);
    Dashboard ui(db.dsn);
    Reply r = ui.Get("/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
    const std::string& m = r.body;
    for (const char* line : {
             "ha_sync_db_up 1\n",
             "ha_sync_last_run_failed{pair=\"photos\",direction=\"dell-to-hp\",dry_run=\"false\"} 1\n",
             "ha_sync_last_run_failed{pair=\"infra\",direction=\"dell-to-hp\",dry_run=\"false\"} 1\n",
             "ha_sync_last_run_failed{pair=\"media\",direction=\"dell-to-hp\",dry_run=\"false\"} 0\n",
             "ha_sync_last_run_failed{pair=\"games\",direction=\"dell-to-hp\",dry_run=\"true\"} 0\n",
             "ha_sync_last_run_status{pair=\"photos\",direction=\"dell-to-hp\",dry_run=\"false\",status=\"partial_failure\"} 1\n",
             "ha_sync_last_run_status{pair=\"photos\",direction=\"dell-to-hp\",dry_run=\"false\",status=\"success\"} 0\n",
             "ha_sync_last_run_bytes_transferred{pair=\"media\",direction=\"dell-to-hp\",dry_run=\"false\"} 5000000\n",
             "ha_sync_last_run_duration_seconds{pair=\"media\",direction=\"dell-to-hp\",dry_run=\"false\"} 40\n",
             "ha_sync_last_run_files_failed{pair=\"photos\",direction=\"dell-to-hp\",dry_run=\"false\"} 2\n",
             "ha_sync_last_run_files{pair=\"media\",direction=\"dell-to-hp\",dry_run=\"false\",outcome=\"created\"} 12\n",
             "ha_sync_running{pair=\"ai\",direction=\"dell-to-hp\"} 1\n",
             "ha_sync_last_run_clock_skew_seconds{pair=\"media\",direction=\"dell-to-hp\",dry_run=\"false\"} 1.25\n",
             "ha_sync_last_run_mtime_precision_seconds{pair=\"media\",direction=\"dell-to-hp\",dry_run=\"false\"} 1e-06\n",
             "ha_sync_running{pair=\"media\",direction=\"dell-to-hp\"} 0\n",
             "# TYPE ha_sync_last_run_end_timestamp_seconds gauge\n",
             "# TYPE ha_sync_last_success_timestamp_seconds gauge\n",
         }) {
      CAPTURE(line);
      CHECK(m.find(line) != std::string::npos);
    }
    // The media run ended 12 minutes before the seed's "now" (to the ms).
    // Runs that did not measure the clocks have no sample (not a made-up 0).
    CHECK(m.find("ha_sync_last_run_clock_skew_seconds{pair=\"photos\"") == std::string::npos);
    const std::string end_key =
        "ha_sync_last_run_end_timestamp_seconds{pair=\"media\",direction=\"dell-to-hp\",dry_run=\"false\"} ";
    const size_t at = m.find(end_key);
    REQUIRE(at != std::string::npos);
    const double end = std::stod(m.substr(at + end_key.size()));
    CHECK(end == doctest::Approx(static_cast<double>(seeded.now - 12 * 60000) / 1000.0).epsilon(1e-12));
  }
}

TEST_CASE("basic auth: 401 with a challenge, /healthz stays open") {
  SeededDatabases seeded;
  DashboardOptions options;
  auto auth = BasicAuth::FromText("ops:correct horse", "test");
  REQUIRE(auth.ok());
  options.auth = *auth;
  Dashboard ui(seeded.dbs.all().front().dsn, options);
  for (const char* target : {"/", "/app.js", "/api/pairs", "/metrics", "/nothing"}) {
    Reply r = ui.Get(target);
    CHECK(r.status == 401);
    CHECK(r.header("www-authenticate") == "Basic realm=\"ha-sync\", charset=\"UTF-8\"");
  }
  const std::string good = "Basic " + Base64Encode("ops:correct horse");
  const std::string bad = "Basic " + Base64Encode("ops:wrong");
  CHECK(Fetch(ui.port(), "/api/pairs", "GET", {{"Authorization", good}}).status == 200);
  CHECK(Fetch(ui.port(), "/", "GET", {{"Authorization", good}}).status == 200);
  CHECK(Fetch(ui.port(), "/api/pairs", "GET", {{"Authorization", bad}}).status == 401);
  CHECK(ui.Get("/healthz").status == 200);
}

TEST_CASE("SQLite store missing: 503 and a clear state until it appears; never created by the UI") {
  SeededDatabases seeded;
  TempDir empty;
  auto dsn = audit::ParseDsn("", empty.path());  // <log-dir>/ha-sync.db, the default
  REQUIRE(dsn.ok());
  Dashboard ui(*dsn);
  Reply pairs = ui.Get("/api/pairs");
  CHECK(pairs.status == 503);
  CHECK(ErrorOf(pairs).rfind("database unavailable: ", 0) == 0);
  Reply health = ui.Get("/healthz");
  CHECK(health.status == 503);
  CHECK(health.body == "{\"status\":\"unavailable\",\"database\":\"unreachable\"}\n");
  CHECK(ui.Get("/metrics").body == "# HELP ha_sync_db_up 1 when the audit database answered this scrape, else 0.\n"
                                   "# TYPE ha_sync_db_up gauge\nha_sync_db_up 0\n");
  CHECK(ui.Get("/").status == 200);  // the page itself still loads and shows a banner
  CHECK(audit::testing::ReadFileOrEmpty(dsn->sqlite_path).empty());
  CHECK(::access(dsn->sqlite_path.c_str(), F_OK) != 0);

  // The first run creates the store: the UI picks it up by itself.
  REQUIRE(testing::SeedStandard(*dsn, NowMs()).ok());
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    status = ui.Get("/api/pairs").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(status == 200);
  CHECK(ui.Get("/healthz").status == 200);
}

TEST_CASE("MariaDB stopped: 503, the server keeps serving, and recovers when it returns") {
  if (!audit::testing::HaveMariaDbControl()) {
    MESSAGE("no MariaDB under the harness's control: skipped");
    return;
  }
  SeededDatabases seeded;
  const TestDatabase* maria = nullptr;
  for (const TestDatabase& db : seeded.dbs.all()) {
    if (db.name == "mariadb") maria = &db;
  }
  REQUIRE(maria != nullptr);
  Dashboard ui(maria->dsn);
  REQUIRE(ui.Get("/api/pairs").status == 200);  // a pooled connection now exists

  REQUIRE(audit::testing::MariaDbControl("stop"));
  for (const char* target : {"/api/pairs", "/api/iterations", "/api/operations?iteration_id=1"}) {
    Reply r = ui.Get(target);
    CHECK(r.status == 503);
    CHECK(ErrorOf(r).rfind("database unavailable: ", 0) == 0);
    CHECK(ErrorOf(r).find(maria->dsn.password) == std::string::npos);
  }
  CHECK(ui.Get("/healthz").status == 503);
  CHECK(ui.Get("/metrics").body.find("ha_sync_db_up 0\n") != std::string::npos);
  CHECK(ui.Get("/").status == 200);
  CHECK(ui.Get("/app.js").status == 200);

  REQUIRE(audit::testing::MariaDbControl("start"));
  int status = 0;
  for (int i = 0; i < 400 && status != 200; ++i) {
    status = ui.Get("/api/pairs").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(status == 200);
  CHECK(ui.Get("/healthz").status == 200);
  CHECK(ui.Get("/metrics").body.find("ha_sync_db_up 1\n") != std::string::npos);
}

TEST_CASE("a SELECT-only MariaDB user is enough (the documented grant)") {
  const char* dir = std::getenv("HA_SYNC_TEST_MARIADB_DIR");
  if (dir == nullptr || *dir == '\0') {
    MESSAGE("no MariaDB started by the harness: skipped");
    return;
  }
  std::string socket = audit::testing::ReadFileOrEmpty(std::string(dir) + "/socket");
  while (!socket.empty() && socket.back() == '\n') socket.pop_back();
  REQUIRE(!socket.empty());
  SeededDatabases seeded;
  const TestDatabase* maria = nullptr;
  for (const TestDatabase& db : seeded.dbs.all()) {
    if (db.name == "mariadb") maria = &db;
  }
  REQUIRE(maria != nullptr);
  auto root_dsn = audit::ParseDsn("root@unix(" + socket + ")/" + maria->dsn.database, dir);
  REQUIRE(root_dsn.ok());
  auto root = audit::OpenSqlConnection(*root_dsn);
  REQUIRE_MESSAGE(root.ok(), root.status().message());
  REQUIRE((*root)->Exec("CREATE USER IF NOT EXISTS 'hsui'@'localhost' IDENTIFIED BY 'ui-pass'").ok());
  REQUIRE((*root)->Exec("GRANT SELECT ON `" + maria->dsn.database + "`.* TO 'hsui'@'localhost'").ok());
  auto ro_dsn = audit::ParseDsn("hsui:ui-pass@unix(" + socket + ")/" + maria->dsn.database, dir);
  REQUIRE(ro_dsn.ok());
  {
    Dashboard ui(*ro_dsn);
    CHECK(ui.Get("/api/pairs").status == 200);
    CHECK(ui.Get("/api/iterations?limit=3").status == 200);
    CHECK(ui.Get("/api/operations?iteration_id=1").status == 200);
    CHECK(ui.Get("/metrics").body.find("ha_sync_db_up 1\n") != std::string::npos);
    CHECK(ui.Get("/healthz").status == 200);
  }
  (void)(*root)->Exec("DROP USER 'hsui'@'localhost'");
}

TEST_CASE("200 API requests from 50 connections while slow clients hold connections open") {
  SeededDatabases seeded;
  for (const TestDatabase& db : seeded.dbs.all()) {
    CAPTURE(db.name);
    Dashboard ui(db.dsn);
    testing::RawConnection slow_head(ui.port());
    REQUIRE(slow_head.Send("GET /api/pairs HTTP/1.1\r\nHost: x\r\n"));
    testing::RawConnection silent(ui.port());
    REQUIRE(silent.connected());
    std::atomic<int> ok{0};
    std::vector<std::string> failures;
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < 50; ++t) {
      threads.emplace_back([&, t] {
        Client client(ui.port());
        for (int i = 0; i < 4; ++i) {
          const std::string target = (i + t) % 2 ? "/api/pairs" : "/api/iterations?limit=5";
          Reply r = client.Get(target);
          if (r.status == 200 && r.body.size() > 20) {
            ++ok;
          } else {
            std::lock_guard<std::mutex> lock(mu);
            failures.push_back(target + " -> " + std::to_string(r.status) + " " + r.error + r.body);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(ok.load() == 200);
    for (const std::string& f : failures) MESSAGE(f);
    bool closed = false;
    slow_head.ReadUntilClosed(20000, &closed);
    CHECK(closed);
  }
}

}  // namespace
}  // namespace ha_sync::http

namespace ha_sync::http {
namespace {

// The shards of one sharded run (docs/api.md "Sharded runs"), written as
// ha-sync writes them: one iteration row each, with the group's id.
testing::SeededRun Shard(const std::string& group, int index, int count, int64_t started_ms,
                         std::vector<OpRecord> ops) {
  testing::SeededRun run = testing::MakeRun("bulk", "dell-to-hp", false, started_ms, 30, std::move(ops));
  run.header.run_group = group;
  run.header.shard_index = index;
  run.header.shard_count = count;
  return run;
}

}  // namespace

TEST_CASE("/api/pairs and /api/iterations: a sharded run is one run with its shards; the pair's status is the group's") {
  TempDir dir;
  TestDatabases dbs{dir.path()};
  const int64_t now = NowMs();
  for (const TestDatabase& db : dbs.all()) {
    CAPTURE(db.name);
    const int64_t t = now - 10 * 60 * 1000;
    using testing::Op;
    for (const auto& run : {Shard("job-1", 0, 3, t, {Op(OpKind::kCreate, "a/1", 10), Op(OpKind::kCreate, "a/2", 10)}),
                            Shard("job-1", 1, 3, t + 50, {Op(OpKind::kCreate, "b/1", 5), Op(OpKind::kUpdate, "b/2", 5, false, "boom")}),
                            Shard("job-1", 2, 3, t + 20, {Op(OpKind::kCreate, "c/1", 1), Op(OpKind::kCreate, "c/2", 1),
                                                          Op(OpKind::kDelete, "c/3", 1)})}) {
      REQUIRE(testing::WriteRun(db.dsn, run).ok());
    }
    Dashboard ui(db.dsn);
    json::value pairs = ui.GetJson("/api/pairs");
    const json::object* bulk = FindPair(pairs, "bulk");
    REQUIRE(bulk != nullptr);
    const json::object& real = FindDirection(*bulk, "dell-to-hp")->at("last_real").as_object();
    CHECK(real.at("run_group").as_string() == "job-1");
    CHECK(real.at("shard_count").as_int64() == 3);
    CHECK(real.at("shard_index").is_null());
    CHECK(real.at("status").as_string() == "partial_failure");  // the worst shard's
    CHECK(real.at("files_created").as_int64() == 5);
    CHECK(real.at("files_deleted").as_int64() == 1);
    CHECK(real.at("files_failed").as_int64() == 1);
    CHECK(std::string(real.at("error_message").as_string()).rfind("shard 1/3: ", 0) == 0);
    REQUIRE(real.at("shards").as_array().size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(real.at("shards").at(i).at("shard_index").as_int64() == i);
    CHECK(AnyContains(bulk->at("attention").as_array(), "partial_failure"));

    json::value list = ui.GetJson("/api/iterations?pair=bulk");
    REQUIRE(list.at("iterations").as_array().size() == 1);
    const json::value& one = list.at("iterations").at(0);
    CHECK(one.at("shards").as_array().size() == 3);
    CHECK(one.at("files_created").as_int64() == 5);
    // Each shard's operations stay behind its own iteration id.
    const int64_t shard2 = one.at("shards").at(2).at("id").as_int64();
    CHECK(ui.GetJson("/api/operations?iteration_id=" + std::to_string(shard2)).at("operations").as_array().size() == 3);

    // A newer group with one shard still running: the pair runs.
    REQUIRE(testing::WriteRun(db.dsn, Shard("job-2", 0, 2, now - 60 * 1000, {Op(OpKind::kCreate, "d/1", 1)})).ok());
    RunHeader running = Shard("job-2", 1, 2, now - 50 * 1000, {}).header;
    REQUIRE(testing::WriteRunning(db.dsn, running).ok());
    pairs = ui.GetJson("/api/pairs");
    const json::object& dir2 = *FindDirection(*FindPair(pairs, "bulk"), "dell-to-hp");
    REQUIRE(dir2.at("running").is_object());
    CHECK(dir2.at("running").at("status").as_string() == "running");
    CHECK(dir2.at("running").at("shards").as_array().size() == 2);
    CHECK(dir2.at("running").at("ended_at").is_null());
    list = ui.GetJson("/api/iterations?pair=bulk");
    CHECK(list.at("iterations").as_array().size() == 2);
    CHECK(list.at("iterations").at(0).at("run_group").as_string() == "job-2");
  }
}

}  // namespace ha_sync::http
