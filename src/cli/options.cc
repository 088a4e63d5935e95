#include "cli/options.h"

#include <limits.h>
#include <stdlib.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cmath>
#include <sstream>

#include "audit/dsn.h"
#include "http/listen_address.h"

namespace ha_sync::cli {
namespace po = boost::program_options;

namespace {

bool ParseCount(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

bool ParseNonNegativeDecimal(const std::string& text, double* out) {
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos) return false;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v) || v < 0) return false;
  *out = v;
  return true;
}

// Lexically normalised absolute path: no ".", "..", duplicate or trailing '/'.
std::string Normalize(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

// The real path when it exists, else the lexical normal form.
std::string Canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) != nullptr) return buf;
  return Normalize(path);
}

bool IsInside(const std::string& inner, const std::string& outer) {
  if (outer == "/") return inner != "/";
  return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
         inner[outer.size()] == '/';
}

bool IsValidLabel(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return s != "." && s != "..";
}

}  // namespace

bool IsValidNamespace(const std::string& ns) {
  if (ns.empty() || ns.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(ns.front()) || !alnum(ns.back())) return false;
  for (char c : ns) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool IsValidPairName(const std::string& pair) {
  if (pair.empty() || pair.size() > 253 - 8) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(pair.front()) || !alnum(pair.back())) return false;
  for (size_t i = 0; i < pair.size(); ++i) {
    const char c = pair[i];
    if (!alnum(c) && c != '-' && c != '.') return false;
    // DNS-1123 subdomain: each dot-separated label starts and ends alphanumeric
    // (the API server answers 422 for "a..b" or "a.-b").
    if (c == '.' && (!alnum(pair[i - 1]) || !alnum(pair[i + 1]))) return false;
  }
  return true;
}

ParseResult ParseOptions(const std::vector<std::string>& args, const char* env_dsn) {
  ParseResult r;
  Options& o = r.options;
  std::string lock_ttl, retain, threshold, workers, max_delete, max_delete_percent, block_size, min_age, trash_days,
      skew_warn, queue_depth, skew_margin, acquire_timeout, bench_seconds;
  po::options_description desc(
      "Usage: ha-sync --src DIR --dest DIR --pair NAME [options]\n"
      "       ha-sync --bench --src DIR --dest DIR [--bench-seconds N] [--bench-json FILE]\n"
      "       ha-sync undo|prune-db ... (see docs/cli.md)\n\n"
      "Syncs one folder pair in one direction: newest mtime wins, mtime preserved,\n"
      "MD5 only when size matches and mtime differs, deletes only with --delete-missing.\n\n"
      "Options");
  // clang-format off
  desc.add_options()
    ("src", po::value(&o.src)->value_name("DIR"), "source directory (absolute path); required")
    ("dest", po::value(&o.dest)->value_name("DIR"), "destination directory (absolute path); required")
    ("pair", po::value(&o.pair)->value_name("NAME"), "pair name, a lowercase DNS name (names the lock); required")
    ("direction", po::value(&o.direction)->value_name("LABEL"), "label for logs, e.g. dell-to-hp (default: fwd)")
    ("db-dsn", po::value(&o.db_dsn)->value_name("DSN"), "audit database DSN (default: env HA_SYNC_DB_DSN)")
    ("lock-ttl", po::value(&lock_ttl)->value_name("SECONDS"), "lock time-to-live (default: 3600)")
    ("lock", po::value(&o.lock)->value_name("auto|lease|flock"), "lock kind; auto = lease in a pod (KUBERNETES_SERVICE_HOST set), else flock (default: auto)")
    ("lease-namespace", po::value(&o.lease_namespace)->value_name("NS"), "namespace of the Lease (default: the pod's namespace, else infrastructure)")
    ("lease-skew-margin", po::value(&skew_margin)->value_name("SECONDS"), "clock-skew margin before a foreign lease counts as expired (default: 60)")
    ("lease-acquire-timeout", po::value(&acquire_timeout)->value_name("SECONDS"), "give up taking the lease after this long when the API fails (default: 30)")
    ("kube-api", po::value(&o.kube_api)->value_name("URL"), "Kubernetes API, https://HOST[:PORT] (default: in-cluster)")
    ("kube-token-file", po::value(&o.kube_token_file)->value_name("FILE"), "bearer token file (default: the service-account token)")
    ("kube-ca", po::value(&o.kube_ca)->value_name("FILE"), "CA file for the API server (default: the service-account ca.crt)")
    ("log-dir", po::value(&o.log_dir)->value_name("DIR"), "opslog and lock directory (default: /var/log/ha-sync)")
    ("log-retain-days", po::value(&retain)->value_name("N"), "delete opslogs older than N days (default: 10)")
    ("mtime-threshold", po::value(&threshold)->value_name("SECONDS"), "mtime equality tolerance (default: 2)")
    ("delete-missing", po::bool_switch(&o.delete_missing), "delete dest entries missing in src")
    ("max-delete", po::value(&max_delete)->value_name("N|N%"), "abort before deleting more than N files or N% of dest files")
    ("max-delete-percent", po::value(&max_delete_percent)->value_name("N"), "refuse to run or delete when a side lost more than N% of the files the sync state knows (an unmounted share); 100: off (default: 50)")
    ("workers", po::value(&workers)->value_name("N"), "files in flight (default: 4)")
    ("block-size", po::value(&block_size)->value_name("BYTES"), "copy block size (default: 1048576)")
    ("io-engine", po::value(&o.io_engine)->value_name("auto|uring|threads"), "how files are copied: io_uring, or blocking calls on the workers; auto falls back to threads with a warning when io_uring is refused (default: auto, or env HA_SYNC_IO_ENGINE)")
    ("queue-depth", po::value(&queue_depth)->value_name("N"), "chunks in flight per large file with io_uring (default: 4)")
    ("no-copy-file-range", po::bool_switch(&o.no_copy_file_range), "with io_uring and both roots on one filesystem, write the data instead of copy_file_range (server-side copy)")
    ("fsync", po::bool_switch(&o.fsync), "fsync each copied file before renaming it into place")
    ("min-age", po::value(&min_age)->value_name("SECONDS"), "leave files modified more recently for the next run (default: 0)")
    ("require-marker", po::value(&o.require_marker)->value_name("NAME"), "refuse to run unless NAME exists in both roots")
    ("exclude", po::value(&o.excluded)->value_name("PATH"), "never sync nor delete this path (relative to the roots; repeatable)")
    ("trash-retain-days", po::value(&trash_days)->value_name("N"), "keep deleted and overwritten files in <dest>/.ha-sync-trash for N days; 0: no trash (default: 14)")
    ("clock-skew-warn", po::value(&skew_warn)->value_name("SECONDS"), "warn when the roots' mtime clocks differ by more (default: 2)")
    ("status-addr", po::value(&o.status_addr)->value_name("HOST:PORT"), "while running, serve live /status (JSON) and /metrics on HOST:PORT")
    ("bench", po::bool_switch(&o.bench), "measure scan, read, write and MD5 rates of these mounts for each io engine and advise --workers/--block-size; changes no user file")
    ("bench-seconds", po::value(&bench_seconds)->value_name("N"), "time bound of --bench (default: 60)")
    ("bench-json", po::value(&o.bench_json)->value_name("FILE"), "with --bench, also write the figures as JSON to FILE ('-': JSON on stdout instead of the table)")
    ("dry-run", po::bool_switch(&o.dry_run), "plan only: print and record what would change")
    ("verbose", po::bool_switch(&o.verbose), "one line per operation")
    ("no-progress", "no progress line, even on a terminal")
    ("version", po::bool_switch(&o.show_version), "print the version")
    ("help", po::bool_switch(&o.show_help), "print this help");
  // clang-format on
  std::ostringstream help;
  help << desc;
  r.help = help.str();

  po::variables_map vm;
  try {
    std::vector<std::string> tail(args.begin() + (args.empty() ? 0 : 1), args.end());
    po::store(po::command_line_parser(tail).options(desc).style(
                  po::command_line_style::default_style &
                  ~po::command_line_style::allow_guessing).run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    r.error = e.what();
    return r;
  }
  o.progress = vm.count("no-progress") == 0;
  if (o.show_help || o.show_version) return r;

  auto fail = [&r](std::string msg) {
    r.error = std::move(msg);
    return r;
  };
  if (o.src.empty()) return fail("--src is required");
  if (o.dest.empty()) return fail("--dest is required");
  if (o.pair.empty() && !o.bench) return fail("--pair is required");
  if (o.src[0] != '/') return fail("--src must be an absolute path, got '" + o.src + "'");
  if (o.dest[0] != '/') return fail("--dest must be an absolute path, got '" + o.dest + "'");
  if (o.log_dir.empty() || o.log_dir[0] != '/') {
    return fail("--log-dir must be an absolute path, got '" + o.log_dir + "'");
  }
  if (!bench_seconds.empty() && !ParseCount(bench_seconds, 1, 86400, &o.bench_seconds)) {
    return fail("--bench-seconds must be a whole number of seconds from 1 to 86400, got '" + bench_seconds + "'");
  }
  if (!o.bench && (vm.count("bench-seconds") || vm.count("bench-json"))) {
    return fail("--bench-seconds and --bench-json go with --bench");
  }
  if (o.bench && o.bench_json.empty() && vm.count("bench-json")) return fail("--bench-json needs a file name or '-'");
  if (!(o.bench && o.pair.empty()) && !IsValidPairName(o.pair)) {
    return fail("--pair '" + o.pair +
                "' is not a lowercase DNS name ([a-z0-9]([-a-z0-9.]*[a-z0-9])?); it names the lock");
  }
  if (!IsValidLabel(o.direction)) {
    return fail("--direction '" + o.direction + "' must be 1-64 of [A-Za-z0-9._-]");
  }
  if (!lock_ttl.empty() && !ParseCount(lock_ttl, 1, 7 * 24 * 3600, &o.lock_ttl_seconds)) {
    return fail("--lock-ttl must be a whole number of seconds from 1 to 604800, got '" + lock_ttl + "'");
  }
  if (o.lock != "auto" && o.lock != "lease" && o.lock != "flock") {
    return fail("--lock must be auto, lease or flock, got '" + o.lock + "'");
  }
  if (!o.lease_namespace.empty() && !IsValidNamespace(o.lease_namespace)) {
    return fail("--lease-namespace '" + o.lease_namespace +
                "' is not a Kubernetes namespace name ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63)");
  }
  if (!skew_margin.empty() && !ParseCount(skew_margin, 0, 86400, &o.lease_skew_margin_seconds)) {
    return fail("--lease-skew-margin must be a whole number of seconds from 0 to 86400, got '" + skew_margin + "'");
  }
  if (!acquire_timeout.empty() &&
      !ParseCount(acquire_timeout, 1, 3600, &o.lease_acquire_timeout_seconds)) {
    return fail("--lease-acquire-timeout must be a whole number of seconds from 1 to 3600, got '" +
                acquire_timeout + "'");
  }
  if (!o.kube_api.empty() && o.kube_api.rfind("https://", 0) != 0) {
    return fail("--kube-api must be an https:// URL, got '" + o.kube_api + "'");
  }
  if (!retain.empty() && !ParseCount(retain, 0, 100000, &o.log_retain_days)) {
    return fail("--log-retain-days must be a whole number >= 0, got '" + retain + "'");
  }
  if (!threshold.empty() && !ParseNonNegativeDecimal(threshold, &o.mtime_threshold_seconds)) {
    return fail("--mtime-threshold must be a number of seconds >= 0, got '" + threshold + "'");
  }
  if (!workers.empty() && !ParseCount(workers, 1, 1024, &o.workers)) {
    return fail("--workers must be a whole number from 1 to 1024, got '" + workers + "'");
  }
  if (!block_size.empty() && !ParseCount(block_size, 4096, 64 << 20, &o.block_size)) {
    return fail("--block-size must be a whole number of bytes from 4096 to 67108864, got '" + block_size + "'");
  }
  if (vm.count("io-engine") == 0) {
    if (const char* env = std::getenv("HA_SYNC_IO_ENGINE"); env != nullptr && *env != '\0') {
      o.io_engine = env;
      if (o.io_engine != "auto" && o.io_engine != "uring" && o.io_engine != "threads") {
        return fail("env HA_SYNC_IO_ENGINE must be auto, uring or threads, got '" + o.io_engine + "'");
      }
    }
  } else if (o.io_engine != "auto" && o.io_engine != "uring" && o.io_engine != "threads") {
    return fail("--io-engine must be auto, uring or threads, got '" + o.io_engine + "'");
  }
  if (!queue_depth.empty() && !ParseCount(queue_depth, 1, 64, &o.queue_depth)) {
    return fail("--queue-depth must be a whole number from 1 to 64, got '" + queue_depth + "'");
  }
  if (!max_delete.empty()) {
    if (max_delete.back() == '%') {
      double pct;
      if (!ParseNonNegativeDecimal(max_delete.substr(0, max_delete.size() - 1), &pct) || pct > 100) {
        return fail("--max-delete percent must be from 0% to 100%, got '" + max_delete + "'");
      }
      o.max_delete_percent = pct;
    } else {
      int64_t n;
      if (!ParseCount(max_delete, 0, INT64_MAX, &n)) {
        return fail("--max-delete must be a whole number or a percentage like 10%, got '" + max_delete + "'");
      }
      o.max_delete_count = n;
    }
  }
  if (vm.count("max-delete-percent") &&
      (!ParseNonNegativeDecimal(max_delete_percent, &o.max_vanished_percent) || o.max_vanished_percent > 100)) {
    return fail("--max-delete-percent must be a number from 0 to 100, got '" + max_delete_percent + "'");
  }
  if (!min_age.empty() && !ParseNonNegativeDecimal(min_age, &o.min_age_seconds)) {
    return fail("--min-age must be a number of seconds >= 0, got '" + min_age + "'");
  }
  if (!trash_days.empty() && !ParseCount(trash_days, 0, 100000, &o.trash_retain_days)) {
    return fail("--trash-retain-days must be a whole number >= 0, got '" + trash_days + "'");
  }
  if (!skew_warn.empty() && !ParseNonNegativeDecimal(skew_warn, &o.clock_skew_warn_seconds)) {
    return fail("--clock-skew-warn must be a number of seconds >= 0, got '" + skew_warn + "'");
  }
  if (vm.count("require-marker") &&
      (o.require_marker.empty() || o.require_marker.find('/') != std::string::npos ||
       o.require_marker == "." || o.require_marker == "..")) {
    return fail("--require-marker must be a file name (no '/'), got '" + o.require_marker + "'");
  }
  for (std::string& x : o.excluded) {
    while (x.size() > 1 && x.back() == '/') x.pop_back();
    if (x.empty() || x[0] == '/' || x == "." || x.find("//") != std::string::npos ||
        ("/" + x + "/").find("/../") != std::string::npos || ("/" + x + "/").find("/./") != std::string::npos) {
      return fail("--exclude must be a path relative to the roots (no '.', '..' or leading '/'), got '" + x + "'");
    }
  }
  if (vm.count("status-addr")) {
    auto addr = http::ParseListenAddress(o.status_addr);
    if (!addr.ok()) return fail("--status-addr " + addr.status().message());
  }
  if (o.db_dsn.empty() && env_dsn != nullptr) o.db_dsn = env_dsn;
  if (auto dsn = audit::ParseDsn(o.db_dsn, o.log_dir); !dsn.ok()) {
    return fail(dsn.status().message());
  }

  const std::string src = Canonical(o.src), dest = Canonical(o.dest);
  if (src == dest) return fail("--src and --dest are the same directory ('" + src + "')");
  if (IsInside(dest, src)) return fail("--dest '" + o.dest + "' is inside --src '" + o.src + "'");
  if (IsInside(src, dest)) return fail("--src '" + o.src + "' is inside --dest '" + o.dest + "'");
  return r;
}

}  // namespace ha_sync::cli
