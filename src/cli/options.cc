#include "cli/options.h"

#include <cstdlib>

#include "audit/audit_store.h"
#include "audit/dsn.h"
#include "ha_sync/canonical_path.h"
#include "ha_sync/file_system_kind.h"
#include "ha_sync/flag_table.h"
#include "ha_sync/text.h"
#include "http/listen_address.h"
#include "k8s/kube_config.h"
#include "pipeline/shard.h"

namespace ha_sync::cli {

namespace {

// Seconds flags become int64 nanoseconds: 1e9 s (31 years) stays far from
// the 9.2e9 s where that overflows and a window would turn negative.
constexpr double kMaxSeconds = 1e9;

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

namespace {

bool IsValidEngine(const std::string& e) { return e == "auto" || e == "uring" || e == "threads"; }

std::string ParseMaxDelete(const std::string& v, Options* o) {
  if (v.back() == '%') {
    double pct;
    if (!ParseNonNegativeDecimal(v.substr(0, v.size() - 1), &pct) || pct > 100) {
      return "--max-delete percent must be from 0% to 100%, got '" + EscapeForDisplay(v) + "'";
    }
    o->max_delete_percent = pct;
    return "";
  }
  int64_t n;
  if (!ParseCount(v, 0, INT64_MAX, &n)) {
    return "--max-delete must be a whole number or a percentage like 10%, got '" +
           EscapeForDisplay(v) + "'";
  }
  o->max_delete_count = n;
  return "";
}

std::string ParseExclude(std::string x, Options* o) {
  while (x.size() > 1 && x.back() == '/') x.pop_back();
  if (x[0] == '/' || x == "." || x.find("//") != std::string::npos ||
      ("/" + x + "/").find("/../") != std::string::npos || ("/" + x + "/").find("/./") != std::string::npos) {
    return "--exclude must be a path relative to the roots (no '.', '..' or leading '/'), got '" +
           EscapeForDisplay(x) + "'";
  }
  o->excluded.push_back(std::move(x));
  return "";
}

// A checker that stores the value when `valid` accepts it, else returns `error` + the value.
FlagTable::Parser Checked(std::string* out, bool (*valid)(const std::string&), std::string error) {
  return [out, valid, error](const std::string& v) {
    if (!valid(v)) return error + " got '" + EscapeForDisplay(v) + "'";
    *out = v;
    return std::string();
  };
}

bool IsAbsolute(const std::string& p) { return p[0] == '/'; }
bool IsMarkerName(const std::string& m) {
  return m.find('/') == std::string::npos && m != "." && m != "..";
}

// Every flag of `ha-sync`, once; FlagTable runs each parser only when its
// flag was given.
void DeclareFlags(FlagTable& t, Options& o, bool* no_progress) {
  // clang-format off
  t.Text("src", "DIR", "source directory (absolute path); required", &o.src)
   .Text("dest", "DIR", "destination directory (absolute path); required", &o.dest)
   .Text("pair", "NAME", "pair name, a lowercase DNS name (names the lock); required", &o.pair)
   .Value("direction", "LABEL", "label for logs, e.g. dell-to-hp (default: fwd)",
          Checked(&o.direction, IsValidLabel, "--direction must be 1-64 of [A-Za-z0-9._-],"))
   .Text("db-dsn", "DSN", "audit database DSN (default: env HA_SYNC_DB_DSN)", &o.db_dsn)
   .Count("lock-ttl", "SECONDS", "lock time-to-live (default: 3600)", 1, 7 * 24 * 3600, &o.lock_ttl_seconds, "seconds")
   .Choice("lock", "lock kind; auto = lease in a pod (KUBERNETES_SERVICE_HOST set) or with a --kube-*/--lease-*/--lock-ttl flag, else flock (default: auto)",
           {"auto", "lease", "flock"}, &o.lock)
   .Value("lease-namespace", "NS", "namespace of the Lease (default: the pod's namespace, else infrastructure)",
          Checked(&o.lease_namespace, IsValidNamespace,
                  "--lease-namespace must be a Kubernetes namespace name ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63),"))
   .Count("lease-skew-margin", "SECONDS", "clock-skew margin before a foreign lease counts as expired (default: 60)",
          0, 86400, &o.lease_skew_margin_seconds, "seconds")
   .Count("lease-acquire-timeout", "SECONDS", "give up taking the lease after this long when the API fails (default: 30)",
          1, 3600, &o.lease_acquire_timeout_seconds, "seconds")
   .Value("kube-api", "URL", "Kubernetes API, https://HOST[:PORT] (default: in-cluster)",
          [&o](const std::string& v) {
            // Parsed as the lock will use it, so a URL without a host, or
            // with a path, is a usage error here and not a lock failure later.
            auto endpoint = k8s::ParseApiUrl(v);
            if (!endpoint.ok()) return endpoint.status().message();
            o.kube_api = v;
            return std::string();
          })
   .Text("kube-token-file", "FILE", "bearer token file (default: the service-account token)", &o.kube_token_file)
   .Text("kube-ca", "FILE", "CA file for the API server (default: the service-account ca.crt)", &o.kube_ca)
   .Value("log-dir", "DIR", "opslog and lock directory (default: /var/log/ha-sync)",
          Checked(&o.log_dir, IsAbsolute, "--log-dir must be an absolute path,"))
   .Count("log-retain-days", "N", "delete opslogs older than N days (default: 10)", 0, 100000, &o.log_retain_days)
   .Decimal("mtime-threshold", "SECONDS", "mtime equality tolerance (default: 2)", kMaxSeconds, &o.mtime_threshold_seconds, "seconds")
   .Switch("delete-missing", "delete dest entries missing in src", &o.delete_missing)
   .Value("max-delete", "N|N%", "abort before deleting more than N files or N% of dest files",
          [&o](const std::string& v) { return ParseMaxDelete(v, &o); })
   .Value("max-delete-percent", "N", "unmounted-share guard: with a sync state, refuse a run whose dest (or, with --delete-missing, src) lost every entry the state knows at the root, and delete nothing when more than 10 files and more than N% of the files the state knows would go; 100: off (default: 50)",
          [&o](const std::string& v) -> std::string {
            if (ParseNonNegativeDecimal(v, &o.max_vanished_percent) && o.max_vanished_percent <= 100) return "";
            return "--max-delete-percent must be a number from 0 to 100, got '" + EscapeForDisplay(v) + "'";
          })
   .Count("workers", "N", "files in flight (default: 32 when src or dest is on a network file system (NFS, SMB, FUSE, Ceph), else 4)", 1, 1024, &o.workers)
   .Count("block-size", "BYTES", "copy block size (default: 1048576)", 4096, 64 << 20, &o.block_size, "bytes")
   .Choice("io-engine", "how files are copied: io_uring, or blocking calls on the workers; auto falls back to threads with a warning when io_uring is refused (default: auto, or env HA_SYNC_IO_ENGINE)",
           {"auto", "uring", "threads"}, &o.io_engine)
   .Count("queue-depth", "N", "chunks in flight per large file with io_uring (default: 4)", 1, 64, &o.queue_depth)
   .Switch("no-copy-file-range", "with io_uring and both roots on one filesystem, write the data instead of copy_file_range (server-side copy)", &o.no_copy_file_range)
   .Switch("fsync", "fsync each copied file before renaming it into place", &o.fsync)
   .Decimal("min-age", "SECONDS", "leave files modified more recently for the next run (default: 0)", kMaxSeconds, &o.min_age_seconds, "seconds")
   .Value("require-marker", "NAME", "refuse to run unless NAME exists in both roots",
          Checked(&o.require_marker, IsMarkerName, "--require-marker must be a file name (no '/'),"))
   .List("exclude", "PATH", "never sync nor delete this path (relative to the roots; repeatable)",
         [&o](const std::string& v) { return ParseExclude(v, &o); })
   .Count("trash-retain-days", "N", "keep deleted and overwritten files in <dest>/.ha-sync-trash for N days; 0: no trash (default: 14)",
          0, 100000, &o.trash_retain_days)
   .Decimal("clock-skew-warn", "SECONDS", "warn when dest's mtime clock differs from this node's by more (default: 2)", kMaxSeconds, &o.clock_skew_warn_seconds, "seconds")
   .Value("status-addr", "HOST:PORT", "while running, serve live /status (JSON) and /metrics on HOST:PORT",
          [&o](const std::string& v) {
            auto addr = http::ParseListenAddress(v);
            if (!addr.ok()) return "--status-addr " + addr.status().message();
            o.status_addr = v;
            return std::string();
          })
   .Value("shard", "I/N", "own part I of N of the tree (top-level directories by a stable hash; files in the root: part 0); see docs/cli.md \"Shards\"",
          [&o](const std::string& v) {
            pipeline::ShardSpec spec;
            const std::string error = pipeline::ParseShardSpec(v, &spec);
            o.shard_index = spec.index;
            o.shard_count = spec.count;
            return error;
          })
   .Count("shards", "N", "like --shard I/N with I from env JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)",
          1, pipeline::kMaxShards, &o.shards_from_env)
   .Value("run-group", "ID", "links the shards of one sharded run in the audit and the dashboard (default: env HA_SYNC_RUN_GROUP)",
          Checked(&o.run_group, IsValidLabel, "--run-group must be 1-64 of [A-Za-z0-9._-],"))
   .Switch("bench", "measure scan, read, write and MD5 rates of these mounts for each io engine and advise --workers/--block-size; changes no user file", &o.bench)
   .Count("bench-seconds", "N", "time bound of --bench (default: 60)", 1, 86400, &o.bench_seconds, "seconds")
   .Text("bench-json", "FILE", "with --bench, also write the figures as JSON to FILE ('-': JSON on stdout instead of the table)", &o.bench_json)
   .Switch("dry-run", "plan only: print and record what would change", &o.dry_run)
   .Switch("verbose", "one line per operation, and the seconds of each stage at the end", &o.verbose)
   .Switch("no-progress", "no progress line, even on a terminal", no_progress)
   .Switch("version", "print the version", &o.show_version)
   .Switch("help", "print this help", &o.show_help);
  // clang-format on
}

// --shard / --shards with JOB_COMPLETION_INDEX, and the run group.
std::string CheckShards(const FlagTable& t, Options& o, const EnvLookup& env) {
  if (t.Given("shard") && t.Given("shards")) return "give either --shard I/N or --shards N, not both";
  if (t.Given("shards")) {
    const char* index_text = Getenv(env, "JOB_COMPLETION_INDEX");
    int64_t index;
    if (index_text == nullptr || !ParseCount(index_text, 0, o.shards_from_env - 1, &index)) {
      return "--shards " + std::to_string(o.shards_from_env) +
             " needs env JOB_COMPLETION_INDEX (set by an Indexed Job) from 0 to " +
             std::to_string(o.shards_from_env - 1) + ", got " +
             (index_text == nullptr ? std::string("none") : "'" + EscapeForDisplay(index_text) + "'");
    }
    o.shard_index = static_cast<int>(index);
    o.shard_count = static_cast<int>(o.shards_from_env);
  }
  if (!t.Given("run-group")) {
    if (const char* group = Getenv(env, "HA_SYNC_RUN_GROUP"); group != nullptr && *group != '\0') {
      if (!IsValidLabel(group)) {
        return "env HA_SYNC_RUN_GROUP must be 1-64 of [A-Za-z0-9._-], got '" + EscapeForDisplay(group) + "'";
      }
      o.run_group = group;
    }
  }
  if (o.shard_count > 1 && o.run_group.empty() && !o.bench) {
    return "--shard/--shards need --run-group ID (or env HA_SYNC_RUN_GROUP): the same for every "
           "shard of one run, it links their records";
  }
  // The shard's lease "ha-sync-<pair>-<i>-of-<n>" is a DNS subdomain too.
  const pipeline::ShardSpec spec{o.shard_index, o.shard_count};
  if (spec.sharded() && 9 + o.pair.size() + spec.Suffix().size() > 253) {
    return "--pair '" + o.pair + "' is too long for a sharded run's lease name";
  }
  return "";
}

// The lock kind (docs/cli.md "Lock"): a Lease flag never goes unused. With
// --lock flock it is refused; with auto it chooses the Lease, as being in a
// pod does. A set but empty KUBERNETES_SERVICE_HOST is refused rather than
// read as "not in a pod", which would silently lock on this node only.
std::string CheckLockKind(const FlagTable& t, Options& o, const EnvLookup& env) {
  const char* given = nullptr;
  for (const char* flag : {"kube-api", "kube-token-file", "kube-ca", "lease-namespace", "lease-skew-margin",
                           "lease-acquire-timeout", "lock-ttl"}) {
    if (t.Given(flag)) {
      given = flag;
      break;
    }
  }
  if (o.lock == "flock" && given != nullptr) {
    return std::string("--") + given + " is for the Kubernetes Lease lock; --lock flock would ignore it";
  }
  if (o.lock != "auto") return "";
  if (given != nullptr) {
    o.lock = "lease";
  } else if (const char* host = Getenv(env, "KUBERNETES_SERVICE_HOST"); host != nullptr && *host == '\0') {
    return "env KUBERNETES_SERVICE_HOST is set but empty: unset it (flock on this node) or give "
           "--lock flock|lease";
  }
  return "";
}

// What no single flag can check: required flags, combinations, defaults from
// the environment, the roots against each other.
std::string CheckCombination(const FlagTable& t, Options& o, const EnvLookup& env) {
  if (o.src.empty()) return "--src is required";
  if (o.dest.empty()) return "--dest is required";
  if (o.pair.empty() && !o.bench) return "--pair is required";
  if (o.src[0] != '/') return "--src must be an absolute path, got '" + o.src + "'";
  if (o.dest[0] != '/') return "--dest must be an absolute path, got '" + o.dest + "'";
  if (!o.bench && (t.Given("bench-seconds") || t.Given("bench-json"))) {
    return "--bench-seconds and --bench-json go with --bench";
  }
  if (!(o.bench && o.pair.empty()) && !IsValidPairName(o.pair)) {
    return "--pair '" + o.pair +
           "' is not a lowercase DNS name ([a-z0-9]([-a-z0-9.]*[a-z0-9])?); it names the lock";
  }
  if (!t.Given("io-engine")) {
    // Set but empty is refused like a flag's empty value, never read as "auto".
    if (const char* engine = Getenv(env, "HA_SYNC_IO_ENGINE"); engine != nullptr) {
      if (!IsValidEngine(engine)) {
        return "env HA_SYNC_IO_ENGINE must be auto, uring or threads, got '" + std::string(engine) + "'";
      }
      o.io_engine = engine;
    }
  }
  auto batch_rows = audit::AuditStore::BatchRowsFromText(Getenv(env, "HA_SYNC_FLUSH_BATCH_ROWS"));
  if (!batch_rows.ok()) return batch_rows.status().message();
  o.flush_batch_rows = *batch_rows;
  // Only an absent flag falls back: an explicit --db-dsn '' was refused above.
  auto chosen = audit::ChooseDsn(t.Given("db-dsn"), o.db_dsn, Getenv(env, "HA_SYNC_DB_DSN"));
  if (!chosen.ok()) return chosen.status().message();
  o.db_dsn = *chosen;
  if (auto dsn = audit::ParseDsn(o.db_dsn, o.log_dir); !dsn.ok()) return dsn.status().message();

  if (std::string error = CheckShards(t, o, env); !error.empty()) return error;
  if (!o.bench) {
    if (std::string error = CheckLockKind(t, o, env); !error.empty()) return error;
  }

  const std::string src = CanonicalPath(o.src), dest = CanonicalPath(o.dest);
  if (src == dest) return "--src and --dest are the same directory ('" + src + "')";
  if (IsInside(dest, src)) return "--dest '" + o.dest + "' is inside --src '" + o.src + "'";
  if (IsInside(src, dest)) return "--src '" + o.src + "' is inside --dest '" + o.dest + "'";
  return "";
}

}  // namespace

ParseResult ParseOptions(const std::vector<std::string>& args, const EnvLookup& env) {
  ParseResult r;
  Options& o = r.options;
  FlagTable t(
      "Usage: ha-sync --src DIR --dest DIR --pair NAME [options]\n"
      "       ha-sync --bench --src DIR --dest DIR [--bench-seconds N] [--bench-json FILE]\n"
      "       ha-sync undo|prune-db|apply|approve ... (see docs/cli.md)\n\n"
      "Syncs one folder pair in one direction: newest mtime wins, mtime preserved,\n"
      "MD5 only when size matches and mtime differs, deletes only with --delete-missing.\n"
      "Switches also take =true|false|1|0|yes|no; no flag takes an empty value.\n\n"
      "Options");
  bool no_progress = false;
  DeclareFlags(t, o, &no_progress);
  r.help = t.Help();
  r.error = t.Parse(std::vector<std::string>(args.begin() + (args.empty() ? 0 : 1), args.end()));
  o.progress = !no_progress;
  if (!r.error.empty() || o.show_help || o.show_version) return r;
  r.error = CheckCombination(t, o, env);
  return r;
}

bool RootsOnNetwork(const Options& o) { return OnNetworkFileSystem(o.src) || OnNetworkFileSystem(o.dest); }

int64_t EffectiveWorkers(const Options& o) {
  if (o.workers > 0) return o.workers;
  return RootsOnNetwork(o) ? 32 : 4;
}

}  // namespace ha_sync::cli
