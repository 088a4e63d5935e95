#include "cli/apply_command.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "audit/audit_store.h"
#include "audit/dsn.h"
#include "audit/plan_lookup.h"
#include "cli/options.h"
#include "cli/run.h"
#include "ha_sync/flag_table.h"
#include "pipeline/plan_file.h"

namespace ha_sync::cli {

namespace {

constexpr int64_t kDefaultMaxAgeSeconds = 86400;

// A refusal: the exit code and its one line.
struct Refusal {
  int code = kExitOk;
  std::string line;
  bool refused() const { return code != kExitOk; }
};
Refusal Usage(std::string line) { return {kExitUsage, std::move(line)}; }
Refusal Refuse(std::string line) { return {kExitFailed, std::move(line)}; }

struct ApplyFlags {
  std::string plan;
  int64_t max_age_seconds = kDefaultMaxAgeSeconds;
  bool help = false;
};

// --plan, --plan-max-age and --help go to `t`; every other argument is the run's.
void SplitArgs(const std::vector<std::string>& args, std::vector<std::string>* own,
               std::vector<std::string>* run) {
  run->push_back(args[0]);
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool takes_value = a == "--plan" || a == "--plan-max-age";
    if (takes_value || a.rfind("--plan=", 0) == 0 || a.rfind("--plan-max-age=", 0) == 0 ||
        a == "--help" || a.rfind("--help=", 0) == 0) {
      own->push_back(a);
      if (takes_value && i + 1 < args.size()) own->push_back(args[++i]);
    } else {
      run->push_back(a);
    }
  }
}

std::string Describe(int64_t id) { return "plan " + std::to_string(id); }

// The checks that hold until the run starts: re-made under the pair's lock.
// `made_at_ms`: when the trees were last seen as the plan says (an unchanged
// dry-run refreshes the plan file, not the row).
std::string CheckStillApplicable(audit::SqlConnection* conn, const audit::IterationRow& plan,
                                 int64_t made_at_ms, int64_t max_age_seconds) {
  const int64_t age_ms = NowMs() - made_at_ms;
  if (age_ms > max_age_seconds * 1000) {
    return Describe(plan.id) + " is " + std::to_string(age_ms / 1000) +
           " s old, older than --plan-max-age " + std::to_string(max_age_seconds) +
           " s: make a new dry-run and review it";
  }
  auto applied = audit::LastApplyOf(conn, plan.id);
  if (!applied.ok()) return "cannot read the audit database: " + applied.status().message();
  if (applied->has_value() && (*applied)->status == "success") {
    return Describe(plan.id) + " was already applied by run " + std::to_string((*applied)->id) +
           " at " + FormatUtcMs((*applied)->started_at_ms);
  }
  auto since = audit::RealRunSince(conn, plan.pair, made_at_ms, plan.id, plan.shard_index, plan.shard_count);
  if (!since.ok()) return "cannot read the audit database: " + since.status().message();
  if (since->has_value()) {
    return Describe(plan.id) + " is out of date: pair '" + plan.pair + "' ran (" +
           (*since)->direction + ", run " + std::to_string((*since)->id) + " at " +
           FormatUtcMs((*since)->started_at_ms) + ") after it was made; make a new dry-run";
  }
  return "";
}

// The plan id named by --plan (a number or "latest").
Refusal ResolvePlanId(audit::SqlConnection* conn, const ApplyFlags& flags, const Options& o,
                      int64_t* id) {
  if (flags.plan == "latest") {
    auto latest = audit::LatestUnappliedPlan(conn, o.pair, o.direction, o.shard_index, o.shard_count);
    if (!latest.ok()) return Refuse("cannot read the audit database: " + latest.status().message());
    if (!latest->has_value()) {
      return Refuse("no plan to apply: pair '" + o.pair + "' " + o.direction +
                    " has no successful dry-run that was not applied yet");
    }
    *id = **latest;
    return {};
  }
  if (!ParseCount(flags.plan, 1, INT64_MAX, id)) {
    return Usage("--plan must be a plan id (the dry-run's iteration id) or 'latest'");
  }
  return {};
}

// The stored dry-run `id`, checked against the run's flags.
Refusal CheckPlanRow(const std::optional<audit::IterationRow>& row, int64_t id, const Options& o) {
  if (!row) return Usage("no plan " + std::to_string(id) + ": no run has that id");
  if (!row->dry_run) return Usage(Describe(id) + " is not a dry-run (it is a production run)");
  if (row->pair != o.pair || row->direction != o.direction) {
    return Usage(Describe(id) + " is of pair '" + row->pair + "' " + row->direction + ", not '" +
                 o.pair + "' " + o.direction);
  }
  // A shard's plan lists only that shard's part of the tree.
  if (row->shard_count != o.shard_count || row->shard_index != o.shard_index) {
    auto part = [](int index, int count) {
      return count > 1 ? "shard " + std::to_string(index) + "/" + std::to_string(count) : std::string("unsharded");
    };
    return Usage(Describe(id) + " is " + part(row->shard_index, row->shard_count) + ", this run is " +
                 part(o.shard_index, o.shard_count) + ": give the same --shard");
  }
  if (row->status != "success") {
    return Refuse(Describe(id) + " did not succeed (status " + row->status + "): it cannot be applied");
  }
  if (row->run_id.empty()) return Refuse(Describe(id) + " has no run id: it has no plan file");
  return {};
}

Refusal CheckPlanFile(const pipeline::Plan& plan, int64_t id, const Options& o) {
  const pipeline::PlanHeader& h = plan.header();
  if (h.src != o.src || h.dest != o.dest) {
    return Usage(Describe(id) + " was made for --src " + h.src + " --dest " + h.dest +
                 ", not these roots");
  }
  if (h.delete_missing != o.delete_missing) {
    return Usage(Describe(id) + (h.delete_missing ? " was made with" : " was made without") +
                 " --delete-missing: give the same flag");
  }
  return {};
}

int Report(const Refusal& r) {
  std::fprintf(stderr, "ha-sync apply: %s\n", r.line.c_str());
  if (r.code == kExitUsage) std::fprintf(stderr, "Try 'ha-sync apply --help'.\n");
  return r.code;
}

}  // namespace

int RunApplyCommand(const std::vector<std::string>& args, const EnvLookup& env, std::atomic<bool>* stop) {
  std::vector<std::string> own, run_args;
  SplitArgs(args, &own, &run_args);
  ApplyFlags flags;
  FlagTable t(
      "Usage: ha-sync apply --plan ID|latest [--plan-max-age SECONDS] --src DIR --dest DIR\n"
      "                     --pair NAME [the other options of the dry-run]\n\n"
      "Executes exactly the operations of one stored dry-run (its iteration id, or\n"
      "'latest': the newest successful dry-run of the pair and direction not applied\n"
      "yet), each only if both sides are still as the dry-run saw them; the others\n"
      "are skipped as stale. Nothing the plan does not list is changed.\n\nOptions");
  t.Text("plan", "ID", "the plan: a dry-run's iteration id, or 'latest'; required", &flags.plan)
      .Count("plan-max-age", "SECONDS", "refuse plans older than this (default: 86400)", 1,
             INT64_MAX / 1000, &flags.max_age_seconds, "seconds")
      .Switch("help", "print this help", &flags.help);
  if (std::string e = t.Parse(own); !e.empty()) return Report(Usage(e));
  ParseResult parsed = ParseOptions(run_args, env);
  if (flags.help) {
    std::printf("%s\nThe options of the run (as for ha-sync; --dry-run is refused):\n%s",
                t.Help().c_str(), ParseOptions({args[0], "--help"}, EnvLookup()).help.c_str());
    return kExitOk;
  }
  if (!parsed.error.empty()) return Report(Usage(parsed.error));
  const Options& o = parsed.options;
  if (!t.Given("plan")) return Report(Usage("--plan is required"));
  if (o.dry_run || o.bench || o.show_version) {
    return Report(Usage("--dry-run, --bench and --version do not go with apply"));
  }
  auto dsn = audit::ParseDsn(o.db_dsn, o.log_dir);
  if (!dsn.ok()) return Report(Usage(dsn.status().message()));
  auto store = audit::AuditStore::Open(*dsn);
  if (!store.ok()) return Report(Refuse("cannot read the plans: " + store.status().message()));
  audit::SqlConnection* conn = (*store)->connection();

  int64_t id = 0;
  if (Refusal r = ResolvePlanId(conn, flags, o, &id); r.refused()) return Report(r);
  auto row = audit::FindIteration(conn, id);
  if (!row.ok()) return Report(Refuse("cannot read the audit database: " + row.status().message()));
  if (Refusal r = CheckPlanRow(*row, id, o); r.refused()) return Report(r);
  const audit::IterationRow plan_row = **row;
  auto plan = pipeline::Plan::Load(pipeline::PlanFilePath(o.log_dir, o.pair, plan_row.run_id));
  if (!plan.ok()) return Report(Refuse(Describe(id) + " cannot be applied: " + plan.status().message()));
  if (Refusal r = CheckPlanFile(**plan, id, o); r.refused()) return Report(r);
  const int64_t made_at_ms = std::max(plan_row.started_at_ms, (*plan)->header().created_at_ms);
  if (std::string why = CheckStillApplicable(conn, plan_row, made_at_ms, flags.max_age_seconds);
      !why.empty()) {
    return Report(Refuse(why));
  }

  std::printf("ha-sync: applying plan %lld (dry-run of %s, %zu operation(s))\n",
              static_cast<long long>(id), FormatUtcMs(plan_row.started_at_ms).c_str(), (*plan)->size());
  ApplyRequest request;
  request.plan_id = id;
  request.plan = *plan;
  request.recheck = [&] {
    return CheckStillApplicable(conn, plan_row, made_at_ms, flags.max_age_seconds);
  };
  return RunSync(o, stop, env, &request);
}

}  // namespace ha_sync::cli
