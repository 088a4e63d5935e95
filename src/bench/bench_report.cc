#include "bench/bench_report.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <map>

namespace ha_sync::bench {

namespace {

std::string Format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string HumanSize(int64_t bytes) {
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

bool Usable(const Measurement& m) { return m.error.empty() && m.seconds > 0 && m.count > 0; }

// The usable rows of one phase, keyed by param (the best rate per param).
std::map<int64_t, double> RatesByParam(const std::vector<Measurement>& rows, const std::string& phase) {
  std::map<int64_t, double> out;
  for (const Measurement& m : rows) {
    if (m.phase != phase || !Usable(m)) continue;
    double& r = out[m.param];
    r = std::max(r, m.Rate());
  }
  return out;
}

// The smallest param whose rate is at least `share` of the best one.
int64_t SmallestNearBest(const std::map<int64_t, double>& rates, double share, double* best_out) {
  double best = 0;
  for (const auto& [param, rate] : rates) best = std::max(best, rate);
  *best_out = best;
  for (const auto& [param, rate] : rates) {
    if (rate >= share * best) return param;
  }
  return 0;
}

std::string ParamText(const Measurement& m) {
  if (m.phase == "read-block") return "block " + HumanSize(m.param);
  if (m.phase == "metadata") return std::to_string(m.param) + " in flight";
  if (m.phase == "md5") return std::to_string(m.param) + (m.param == 1 ? " thread" : " threads");
  if (m.phase == "scan") return std::to_string(m.param) + " listers";
  if (m.phase == "read" || m.phase == "copy") {
    return std::to_string(m.param) + " in flight";
  }
  return "";
}

}  // namespace

double Measurement::Rate() const {
  if (seconds <= 0) return 0;
  if (phase == "scan" || phase == "metadata") return static_cast<double>(count) / seconds;
  return static_cast<double>(bytes) / 1e6 / seconds;
}

std::string Measurement::Unit() const {
  if (phase == "scan") return "entries/s";
  if (phase == "metadata") return "ops/s";
  return "MB/s";
}

Recommendation Recommend(const std::vector<Measurement>& rows) {
  Recommendation rec;
  double best = 0;
  const auto meta = RatesByParam(rows, "metadata");
  if (const int64_t c = SmallestNearBest(meta, 0.9, &best); c > 0) {
    rec.workers = std::max<int64_t>(4, c);
    rec.reasons.push_back("--workers " + std::to_string(rec.workers) + ": " + std::to_string(c) +
                          " operations in flight reach " + Format("%.0f", meta.at(c)) +
                          " ops/s, within 10% of the best measured (" + Format("%.0f", best) +
                          " ops/s); more only adds load on the server");
  }
  const auto blocks = RatesByParam(rows, "read-block");
  if (const int64_t b = SmallestNearBest(blocks, 0.95, &best); b > 0) {
    rec.block_size = b;
    rec.reasons.push_back("--block-size " + std::to_string(b) + ": reads in blocks of " +
                          HumanSize(b) + " reach " + Format("%.0f", blocks.at(b)) +
                          " MB/s, within 5% of the best block size (" + Format("%.0f", best) +
                          " MB/s)");
  }
  // Engines: compare like with like (same phase and root), then combine.
  double log_sum = 0;
  int compared = 0;
  for (const Measurement& u : rows) {
    if (u.engine != "uring" || !Usable(u)) continue;
    for (const Measurement& t : rows) {
      if (t.engine == "threads" && Usable(t) && t.phase == u.phase && t.root == u.root &&
          t.param == u.param && t.Rate() > 0 && u.Rate() > 0) {
        log_sum += std::log(u.Rate() / t.Rate());
        ++compared;
      }
    }
  }
  if (compared == 0) {
    rec.io_engine = "auto";
  } else {
    const double ratio = std::exp(log_sum / compared);
    rec.io_engine = ratio > 1.05 ? "uring" : ratio < 1 / 1.05 ? "threads" : "auto";
    rec.reasons.push_back("--io-engine " + rec.io_engine + ": io_uring runs at " +
                          Format("%.2f", ratio) + " x the thread executor's rates (geometric mean of " +
                          std::to_string(compared) + " measurements)" +
                          (rec.io_engine == "auto" ? ", no clear winner" : ""));
  }
  return rec;
}

std::string FormatTable(const BenchReport& r) {
  std::string out;
  out += "ha-sync " + r.version + " --bench: src " + r.src + ", dest " + r.dest + "\n";
  out += "time bound " + Format("%.0f", r.budget_seconds) + " s, took " +
         Format("%.1f", r.elapsed_seconds) + " s; --workers " + std::to_string(r.workers) +
         ", --queue-depth " + std::to_string(r.queue_depth) + ", --block-size " +
         std::to_string(r.block_size) + "\n";
  for (const std::string& n : r.notes) out += "note: " + n + "\n";
  out += "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-10s %-5s %-8s %-16s %12s %-9s %9s %8s  %s\n", "phase", "root",
                "engine", "setting", "rate", "unit", "count", "seconds", "");
  out += line;
  for (const Measurement& m : r.rows) {
    const std::string rate = m.error.empty() ? Format("%.1f", m.Rate()) : "-";
    std::string tail = m.error.empty() ? (m.complete ? "" : "(time bound)") : "error: " + m.error;
    std::snprintf(line, sizeof line, "%-10s %-5s %-8s %-16s %12s %-9s %9lld %8.2f  ", m.phase.c_str(),
                  m.root.c_str(), m.engine.empty() ? "-" : m.engine.c_str(), ParamText(m).c_str(),
                  rate.c_str(), m.Unit().c_str(), static_cast<long long>(m.count), m.seconds);
    out += line + tail + "\n";
  }
  out += "\nrecommendation:";
  if (r.recommendation.workers > 0) out += " --workers " + std::to_string(r.recommendation.workers);
  if (r.recommendation.block_size > 0) {
    out += " --block-size " + std::to_string(r.recommendation.block_size);
  }
  out += " --io-engine " + r.recommendation.io_engine + "\n";
  for (const std::string& why : r.recommendation.reasons) out += "  " + why + "\n";
  return out;
}

std::string FormatJson(const BenchReport& r) {
  boost::json::object o;
  o["version"] = r.version;
  o["src"] = r.src;
  o["dest"] = r.dest;
  o["budget_seconds"] = r.budget_seconds;
  o["elapsed_seconds"] = r.elapsed_seconds;
  o["workers"] = r.workers;
  o["queue_depth"] = r.queue_depth;
  o["block_size"] = r.block_size;
  boost::json::array notes;
  for (const std::string& n : r.notes) notes.push_back(boost::json::string(n));
  o["notes"] = std::move(notes);
  boost::json::array rows;
  for (const Measurement& m : r.rows) {
    boost::json::object j;
    j["phase"] = m.phase;
    j["root"] = m.root;
    j["engine"] = m.engine;
    j["param"] = m.param;
    j["count"] = m.count;
    j["bytes"] = m.bytes;
    j["seconds"] = m.seconds;
    j["rate"] = m.error.empty() ? m.Rate() : 0.0;
    j["unit"] = m.Unit();
    j["complete"] = m.complete;
    if (!m.error.empty()) j["error"] = m.error;
    rows.push_back(std::move(j));
  }
  o["measurements"] = std::move(rows);
  boost::json::object rec;
  rec["workers"] = r.recommendation.workers;
  rec["block_size"] = r.recommendation.block_size;
  rec["io_engine"] = r.recommendation.io_engine;
  boost::json::array reasons;
  for (const std::string& why : r.recommendation.reasons) reasons.push_back(boost::json::string(why));
  rec["reasons"] = std::move(reasons);
  o["recommendation"] = std::move(rec);
  return boost::json::serialize(o) + "\n";
}

}  // namespace ha_sync::bench
