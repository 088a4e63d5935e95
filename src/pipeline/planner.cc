#include "pipeline/planner.h"

#include <algorithm>

namespace ha_sync::pipeline {

using io::Entry;
using io::FileType;

const char* ToString(ActionKind kind) {
  switch (kind) {
    case ActionKind::kInSync: return "in-sync";
    case ActionKind::kDestNewer: return "dest-newer";
    case ActionKind::kCreateFile: return "create-file";
    case ActionKind::kUpdateFile: return "update-file";
    case ActionKind::kHashThenUpdate: return "hash-then-update";
    case ActionKind::kConflictCopy: return "conflict-copy";
    case ActionKind::kCreateSymlink: return "create-symlink";
    case ActionKind::kUpdateSymlink: return "update-symlink";
    case ActionKind::kCreateDir: return "create-dir";
    case ActionKind::kDescend: return "descend";
    case ActionKind::kConflict: return "conflict";
    case ActionKind::kDelete: return "delete";
    case ActionKind::kReplace: return "replace";
    case ActionKind::kLeaveDestOnly: return "leave-dest-only";
    case ActionKind::kNewOnDest: return "new-on-dest";
    case ActionKind::kDestChangedKeep: return "dest-changed-keep";
    case ActionKind::kDeletedOnDest: return "deleted-on-dest";
    case ActionKind::kSettling: return "settling";
    case ActionKind::kFutureDated: return "future-dated";
    case ActionKind::kRemoveStaleTemp: return "remove-stale-temp";
    case ActionKind::kIgnoreSourceTemp: return "ignore-source-temp";
    case ActionKind::kSkipSpecial: return "skip-special";
  }
  return "?";
}

bool IsReservedName(const std::string& name, bool at_root) {
  if (io::IsSyncTempName(name)) return true;
  return at_root && (name == ".ha-sync-trash" || name.rfind(".ha-sync-probe-", 0) == 0 ||
                     name.rfind(kBenchScratchPrefix, 0) == 0);
}

bool Settling(const Entry& e, const PlanOptions& o) {
  return o.min_age_ns > 0 && e.type != FileType::kDir && e.mtime_ns > o.now_ns - o.min_age_ns &&
         e.mtime_ns <= o.now_ns + o.threshold_ns;
}

bool IsExcluded(const std::vector<std::string>& excluded, const std::string& rel) {
  return std::find(excluded.begin(), excluded.end(), rel) != excluded.end();
}

namespace {

struct Planner {
  const PlanOptions& o;
  const std::vector<StateEntry>* state;  // null: no state at all

  Action Make(ActionKind kind, const Entry* s, const Entry* d, const StateEntry* st, NextState next,
              std::string reason = {}) const {
    return Action{kind, s, d, st, next, std::move(reason)};
  }

  bool Young(const Entry* e) const { return e != nullptr && Settling(*e, o); }

  bool SameTime(const Entry& a, const Entry& b) const {
    const int64_t diff = a.mtime_ns - b.mtime_ns;
    return diff <= o.threshold_ns && diff >= -o.threshold_ns;
  }

  // Equal content as far as metadata tells (links: same target).
  bool Equal(const Entry& s, const Entry& d) const {
    if (s.type == FileType::kSymlink) return s.link_target == d.link_target;
    return s.size == d.size && SameTime(s, d);
  }
  // The same to the nanosecond. (A side with coarser times is matched
  // against the record instead: a whole-second mtime here would otherwise
  // hide a change made within that second on the other side.)
  static bool Identical(const Entry& s, const Entry& d) {
    if (s.type == FileType::kSymlink) return s.link_target == d.link_target;
    return s.size == d.size && s.mtime_ns == d.mtime_ns;
  }

  Action SourceOnly(const Entry& s, const StateEntry* st) const {
    if (s.type == FileType::kOther) {
      return Make(ActionKind::kSkipSpecial, &s, nullptr, st, NextState::kDrop,
                  "special file (fifo, socket or device) skipped");
    }
    if (Young(&s)) return Make(ActionKind::kSettling, &s, nullptr, st, NextState::kKeepOld);
    if (state != nullptr && st != nullptr && o.delete_missing && SameAsState(s, *st)) {
      return Make(ActionKind::kDeletedOnDest, &s, nullptr, st, NextState::kKeepOld);
    }
    switch (s.type) {
      case FileType::kFile: return Make(ActionKind::kCreateFile, &s, nullptr, st, NextState::kRecordSource);
      case FileType::kSymlink: return Make(ActionKind::kCreateSymlink, &s, nullptr, st, NextState::kRecordSource);
      default: return Make(ActionKind::kCreateDir, &s, nullptr, st, NextState::kRecordSource);
    }
  }

  Action DestOnly(const Entry& d, const StateEntry* st) const {
    if (!o.delete_missing) return Make(ActionKind::kLeaveDestOnly, nullptr, &d, st, NextState::kKeepOld);
    if (Young(&d)) return Make(ActionKind::kSettling, nullptr, &d, st, NextState::kKeepOld);
    if (state == nullptr) return Make(ActionKind::kDelete, nullptr, &d, st, NextState::kDrop);
    if (st == nullptr) return Make(ActionKind::kNewOnDest, nullptr, &d, st, NextState::kDrop);
    if (!SameAsState(d, *st)) {
      return Make(ActionKind::kDestChangedKeep, nullptr, &d, st, NextState::kDrop);
    }
    return Make(ActionKind::kDelete, nullptr, &d, st, NextState::kDrop);
  }

  Action CopyOver(const Entry& s, const Entry& d, const StateEntry* st) const {
    if (s.type == FileType::kSymlink) {
      return Make(ActionKind::kUpdateSymlink, &s, &d, st, NextState::kRecordSource);
    }
    return Make(s.size != d.size ? ActionKind::kUpdateFile : ActionKind::kHashThenUpdate, &s, &d, st,
                NextState::kRecordSource);
  }

  Action Both(const Entry& s, const Entry& d, const StateEntry* st) const {
    if (s.type == FileType::kOther) {
      return Make(ActionKind::kSkipSpecial, &s, &d, st, NextState::kDrop,
                  "special file (fifo, socket or device) skipped");
    }
    if (s.type != d.type) {
      if (state != nullptr && st != nullptr) {
        // Which side changed the type: an unchanged side never replaces a
        // changed one (the reverse run carries the change), and a path
        // changed on both sides is left for a person.
        const bool s_same = SameAsState(s, *st), d_same = SameAsState(d, *st);
        if (s_same && !d_same) return Make(ActionKind::kDestNewer, &s, &d, st, NextState::kKeepOld);
        if (!s_same && !d_same) {
          return Make(ActionKind::kConflict, &s, &d, st, NextState::kKeepOld,
                      std::string("conflict: changed on both sides since the last sync (source is a ") +
                          io::ToString(s.type) + ", destination is a " + io::ToString(d.type) +
                          "); left unchanged on both, resolve by hand");
        }
      }
      if (o.delete_missing) return Make(ActionKind::kReplace, &s, &d, st, NextState::kDrop);
      return Make(ActionKind::kConflict, &s, &d, st, NextState::kKeepOld,
                  std::string("conflict: source is a ") + io::ToString(s.type) +
                      ", destination is a " + io::ToString(d.type) +
                      "; left unchanged (use --delete-missing to make dest match)");
    }
    if (s.type == FileType::kDir) return Make(ActionKind::kDescend, &s, &d, st, NextState::kRecordSource);
    // With a record of the last sync, any difference from it is a change,
    // however small; the --mtime-threshold window is only for two sides
    // no record covers.
    const bool recorded = state != nullptr && st != nullptr;
    if (recorded ? Identical(s, d) : Equal(s, d)) {
      return Make(ActionKind::kInSync, &s, &d, st, NextState::kRecordSource);
    }
    if (Young(&s) || Young(&d)) return Make(ActionKind::kSettling, &s, &d, st, NextState::kKeepOld);
    const bool future = o.now_ns > 0 && s.mtime_ns > o.now_ns + o.threshold_ns;

    // A name the state does not know was never synced: the seed's rules
    // apply to it as to a pair without state (an overwritten dest version
    // still goes to the trash).
    const bool targets_differ = s.type == FileType::kSymlink && s.link_target != d.link_target;
    if (recorded) {
      const bool s_same = SameAsState(s, *st);
      const bool d_same = SameAsState(d, *st);
      if (s_same && d_same && !targets_differ) {
        return Make(ActionKind::kInSync, &s, &d, st, NextState::kKeepOld);
      }
      if (s_same && !d_same) return Make(ActionKind::kDestNewer, &s, &d, st, NextState::kKeepOld);
      if (future) return FutureDated(s, d, st);
      if (d_same && !s_same) return CopyOver(s, d, st);
      if (!s_same && !d_same) {
        // Changed on both sides (or new on both): the newer wins, the loser is kept.
        const int64_t diff = s.mtime_ns - d.mtime_ns;
        if (diff < -o.threshold_ns) return Make(ActionKind::kDestNewer, &s, &d, st, NextState::kKeepOld);
        if (s.type == FileType::kSymlink) {
          return Make(ActionKind::kConflict, &s, &d, st, NextState::kKeepOld,
                      "conflict: symlink changed on both sides; left unchanged");
        }
        return Make(ActionKind::kConflictCopy, &s, &d, st, NextState::kRecordSource);
      }
      // Both as recorded but the link targets differ (retargeted keeping its
      // time): the record cannot tell which side changed; the seed's rules do.
    }

    // No record: the seed's rules.
    if (SameTime(s, d)) {
      if (s.type == FileType::kSymlink) {
        return Make(ActionKind::kConflict, &s, &d, st, NextState::kKeepOld,
                    "conflict: symlink targets differ but mtimes are equal; left unchanged");
      }
      return Make(ActionKind::kConflict, &s, &d, st, NextState::kKeepOld,
                  "conflict: equal mtime but size differs (source " + std::to_string(s.size) +
                      " bytes, destination " + std::to_string(d.size) +
                      " bytes); left unchanged, resolve by hand");
    }
    if (s.mtime_ns < d.mtime_ns) return Make(ActionKind::kDestNewer, &s, &d, st, NextState::kKeepOld);
    if (future) return FutureDated(s, d, st);
    return CopyOver(s, d, st);
  }

  Action FutureDated(const Entry& s, const Entry& d, const StateEntry* st) const {
    return Make(ActionKind::kFutureDated, &s, &d, st, NextState::kKeepOld,
                "source mtime is in the future (beyond the clock window); it does not win "
                "automatically: fix the file's time or copy it by hand");
  }
};

}  // namespace

std::vector<Action> PlanDirectory(const std::vector<Entry>& src, const std::vector<Entry>& dest,
                                  const std::vector<StateEntry>* state, const PlanOptions& options) {
  Planner p{options, state};
  std::vector<Action> plan;
  plan.reserve(src.size() + dest.size());
  size_t k = 0;  // cursor into *state
  auto state_for = [&](const std::string& name) -> const StateEntry* {
    if (state == nullptr) return nullptr;
    while (k < state->size() && (*state)[k].name < name) ++k;
    return k < state->size() && (*state)[k].name == name ? &(*state)[k] : nullptr;
  };
  size_t i = 0, j = 0;
  while (i < src.size() || j < dest.size()) {
    const Entry* s = i < src.size() ? &src[i] : nullptr;
    const Entry* d = j < dest.size() ? &dest[j] : nullptr;
    int cmp;
    if (s == nullptr) cmp = 1;
    else if (d == nullptr) cmp = -1;
    else cmp = s->name.compare(d->name);

    const std::string& name = cmp <= 0 ? s->name : d->name;
    const StateEntry* st = state_for(name);
    if (cmp < 0) {
      ++i;
      plan.push_back(io::IsSyncTempName(s->name)
                         ? p.Make(ActionKind::kIgnoreSourceTemp, s, nullptr, nullptr, NextState::kDrop)
                         : p.SourceOnly(*s, st));
    } else if (cmp > 0) {
      ++j;
      plan.push_back(io::IsSyncTempName(d->name)
                         ? p.Make(ActionKind::kRemoveStaleTemp, nullptr, d, nullptr, NextState::kDrop)
                         : p.DestOnly(*d, st));
    } else {
      ++i;
      ++j;
      if (io::IsSyncTempName(s->name)) {
        plan.push_back(p.Make(ActionKind::kIgnoreSourceTemp, s, nullptr, nullptr, NextState::kDrop));
        plan.push_back(p.Make(ActionKind::kRemoveStaleTemp, nullptr, d, nullptr, NextState::kDrop));
      } else {
        plan.push_back(p.Both(*s, *d, st));
      }
    }
  }
  return plan;
}

}  // namespace ha_sync::pipeline
