#include "reports/attestation/chain.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "reports/artifacts.hpp"

namespace firedrill::attestation {
namespace {

namespace fs = std::filesystem;

/// The entry's own hash: SHA-256 of its canonical JSON (sorted keys, no spaces) without "hash".
std::string entry_hash(nlohmann::json entry) {
  entry.erase("hash");
  return sha256_hex(entry.dump());
}

/// An exclusive advisory lock on a file, released on destruction (and by the kernel when the
/// process dies, so a killed run never leaves the chain locked).
class FileLock {
 public:
  explicit FileLock(const fs::path& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) {
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0)
      throw ChainError(fmt::format("cannot lock {}: {}", path.string(), std::strerror(errno)));
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

/// A file's bytes, or why it may not be read: not a regular file (a device, a FIFO or a symbolic
/// link would hang or leave the directory), larger than limit, unreadable.
struct BoundedRead {
  std::string content;
  std::string problem;
};

BoundedRead read_bounded(const fs::path& file, std::uintmax_t limit) {
  BoundedRead read;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: no link leaves the dir.
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    read.problem = errno == ELOOP ? fmt::format("{} is a symbolic link, not a regular file", file.string())
                                  : fmt::format("{} cannot be read: {}", file.string(), std::strerror(errno));
    return read;
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd);
    read.problem = fmt::format("{} is not a regular file", file.string());
    return read;
  }
  if (static_cast<std::uintmax_t>(status.st_size) > limit) {
    ::close(fd);
    read.problem = fmt::format("{} is {} bytes, more than the {} a firedrill file of its kind may have", file.string(),
                               status.st_size, limit);
    return read;
  }
  read.content.resize(static_cast<std::size_t>(status.st_size));
  std::size_t done = 0;
  while (done < read.content.size()) {
    auto n = ::read(fd, read.content.data() + done, read.content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  read.content.resize(done);
  return read;
}

/// 64 lowercase hex digits (checked by hand: a regex per field made verifying a 100 000-entry
/// chain noticeably slower).
bool is_hex_digest(const nlohmann::json& value) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  return text.size() == 64 &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// Why entry is not a chain entry, or "" when it is one.
std::string entry_problem(const nlohmann::json& entry) {
  if (!entry.is_object()) return "not a JSON object";
  auto seq = entry.find("seq");
  if (seq == entry.end() || !seq->is_number_unsigned() || seq->get<std::uint64_t>() == 0)
    return "\"seq\" must be a whole number from 1";
  for (const char* field : {"run_id", "attestation"}) {
    auto value = entry.find(field);
    if (value == entry.end() || !value->is_string()) return fmt::format("\"{}\" must be a string", field);
  }
  for (const char* field : {"attestation_sha256", "prev", "hash"})
    if (!entry.contains(field) || !is_hex_digest(entry[field]))
      return fmt::format("\"{}\" must be 64 lowercase hex digits", field);
  if (entry.contains("completed_after_crash") && !entry["completed_after_crash"].is_boolean())
    return "\"completed_after_crash\" must be true or false";
  return {};
}

/// chain.jsonl as read: the entries up to the first malformed line, and the torn tail (an
/// unterminated last line, what a crash in the middle of an append leaves).
struct ChainFile {
  std::vector<nlohmann::json> entries;
  std::string problem;              ///< a malformed line or an unusable file, with where
  bool torn_tail = false;
  std::uintmax_t whole_bytes = 0;   ///< bytes of the complete lines (where a repair truncates)
  std::size_t torn_line = 0;
};

ChainFile read_chain(const fs::path& runs_dir) {
  auto path = runs_dir / "chain.jsonl";
  std::error_code error;
  auto status = fs::symlink_status(path, error);
  if (error || !fs::exists(status)) throw ChainError(fmt::format("{}: no evidence chain here", path.string()));
  ChainFile chain;
  auto read = read_bounded(path, max_chain_bytes);
  if (!read.problem.empty()) {
    chain.problem = read.problem;
    return chain;
  }
  std::size_t start = 0, line = 0;
  while (start < read.content.size()) {
    ++line;
    auto end = read.content.find('\n', start);
    if (end == std::string::npos) {
      chain.torn_tail = true;
      chain.torn_line = line;
      break;
    }
    auto entry = nlohmann::json::parse(read.content.begin() + static_cast<std::ptrdiff_t>(start),
                                       read.content.begin() + static_cast<std::ptrdiff_t>(end), nullptr, false);
    auto problem = entry.is_discarded() ? std::string("not JSON") : entry_problem(entry);
    if (!problem.empty()) {
      chain.problem = fmt::format("{}:{}: not a chain entry: {}", path.string(), line, problem);
      return chain;
    }
    chain.entries.push_back(std::move(entry));
    start = end + 1;
    chain.whole_bytes = start;
  }
  return chain;
}

/// Why name is not a path RUN/attestation.dsse.json inside runs_dir, or "".
std::string path_problem(const fs::path& runs_dir, const std::string& name) {
  fs::path relative(name);
  auto parts = std::distance(relative.begin(), relative.end());
  if (relative.is_absolute() || parts != 2 || relative.filename() != attestation_file_name ||
      *relative.begin() == ".." || *relative.begin() == "." || relative.lexically_normal() != relative)
    return fmt::format("attestation path '{}' is not RUN/{} inside the runs directory", name, attestation_file_name);
  std::error_code error;
  auto run_dir = fs::symlink_status(runs_dir / *relative.begin(), error);
  if (!error && fs::is_symlink(run_dir))
    return fmt::format("attestation path '{}' goes through a symbolic link", name);
  return {};
}

struct ReadAttestation {
  std::string content;
  std::string problem;
};

ReadAttestation read_attestation(const fs::path& runs_dir, const std::string& name) {
  if (auto problem = path_problem(runs_dir, name); !problem.empty()) return {{}, problem};
  auto file = runs_dir / name;
  std::error_code error;
  if (!fs::exists(fs::symlink_status(file, error))) return {{}, fmt::format("attestation {} is missing", file.string())};
  auto read = read_bounded(file, max_attestation_bytes);
  return {std::move(read.content), std::move(read.problem)};
}

/// The Statement of an attestation's bytes: verified against trusted_keys when there are any,
/// merely decoded otherwise. Null with why when neither works.
nlohmann::json statement_of(const std::string& content, const std::vector<PublicKey>& trusted_keys, std::string& why) {
  auto json = nlohmann::json::parse(content, nullptr, false);
  Envelope envelope;
  try {
    envelope = envelope_from_json(json);
  } catch (const EnvelopeError& error) {
    why = error.what();
    return nullptr;
  }
  if (!trusted_keys.empty()) {
    auto verified = verify_statement(envelope, trusted_keys, drill_predicate_type);
    if (!verified.valid) why = verified.reason;
    return verified.valid ? verified.statement : nlohmann::json(nullptr);
  }
  auto payload = base64_decode(envelope.payload);
  auto statement = payload ? nlohmann::json::parse(*payload, nullptr, false) : nlohmann::json();
  if (!statement.is_object()) {
    why = "its payload is not a Statement";
    return nullptr;
  }
  return statement;
}

std::optional<ChainAnchor> anchor_of(const nlohmann::json& statement) {
  if (!statement.is_object() || !statement.contains("predicate") || !statement["predicate"].is_object()) return std::nullopt;
  auto chain = statement["predicate"].find("chain");
  if (chain == statement["predicate"].end() || !chain->is_object()) return std::nullopt;
  auto seq = chain->find("seq");
  auto prev = chain->find("prev");
  if (seq == chain->end() || !seq->is_number_unsigned() || prev == chain->end() || !is_hex_digest(*prev)) return std::nullopt;
  return ChainAnchor{seq->get<std::size_t>(), prev->get<std::string>()};
}

nlohmann::json make_entry(std::size_t seq, const std::string& run_id, const std::string& attestation,
                          const std::string& digest, const std::string& prev, bool completed_after_crash) {
  nlohmann::json entry = {{"seq", seq}, {"run_id", run_id}, {"attestation", attestation},
                          {"attestation_sha256", digest}, {"prev", prev}};
  if (completed_after_crash) entry["completed_after_crash"] = true;
  entry["hash"] = entry_hash(entry);
  return entry;
}

/// Signed runs of runs_dir that chained lacks.
struct Unchained {
  std::vector<nlohmann::json> completions;  ///< entries that extend the head, in order
  std::vector<std::string> removed;         ///< attestations no anchor ties to the head
};

Unchained find_unchained(const fs::path& runs_dir, const std::vector<nlohmann::json>& entries,
                         const std::vector<PublicKey>& trusted_keys) {
  std::set<std::string> chained;
  for (const auto& entry : entries) chained.insert(entry["attestation"].get<std::string>());
  struct Candidate {
    ChainAnchor anchor;
    std::string name, run_id, digest;
  };
  std::vector<Candidate> candidates;
  Unchained unchained;
  std::error_code error;
  std::vector<fs::path> run_dirs;
  for (const auto& run : fs::directory_iterator(runs_dir, error))
    if (run.is_directory(error) && !run.is_symlink(error)) run_dirs.push_back(run.path());
  std::sort(run_dirs.begin(), run_dirs.end());
  for (const auto& run : run_dirs) {
    auto name = (run.filename() / attestation_file_name).generic_string();
    if (chained.count(name) || !fs::exists(fs::symlink_status(runs_dir / name, error))) continue;
    auto read = read_attestation(runs_dir, name);
    std::string why;
    auto statement = read.problem.empty() ? statement_of(read.content, trusted_keys, why) : nlohmann::json();
    auto anchor = anchor_of(statement);
    auto run_id = statement.is_object() ? statement["predicate"].value("run_id", nlohmann::json()) : nlohmann::json();
    if (anchor && run_id.is_string())
      candidates.push_back({*anchor, name, run_id.get<std::string>(), sha256_hex(read.content)});
    else
      unchained.removed.push_back(name);
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.anchor.seq < b.anchor.seq; });
  std::size_t seq = entries.size();
  std::string head = entries.empty() ? std::string(chain_genesis) : entries.back()["hash"].get<std::string>();
  for (const auto& candidate : candidates) {
    if (candidate.anchor.seq == seq + 1 && candidate.anchor.prev == head) {
      auto entry = make_entry(++seq, candidate.run_id, candidate.name, candidate.digest, head, true);
      head = entry["hash"].get<std::string>();
      unchained.completions.push_back(std::move(entry));
    } else {
      unchained.removed.push_back(candidate.name);
    }
  }
  std::sort(unchained.removed.begin(), unchained.removed.end());
  return unchained;
}

void fsync_directory(const fs::path& dir) {
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

/// Appends lines with one write(2) each and fsyncs them: after a crash each line is whole, torn
/// (repaired by truncation) or absent.
void append_lines(const fs::path& runs_dir, const std::vector<nlohmann::json>& entries) {
  auto path = runs_dir / "chain.jsonl";
  std::error_code error;
  bool created = !fs::exists(fs::symlink_status(path, error));
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw ChainError(fmt::format("cannot append to {}: {}", path.string(), std::strerror(errno)));
  bool written = true;
  for (const auto& entry : entries) {
    auto line = entry.dump() + "\n";
    written = written && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  }
  written = written && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) throw ChainError(fmt::format("cannot append to {}", path.string()));
  if (created) fsync_directory(runs_dir);
}

/// repair_chain's work, the lock already held. Returns the chain as it is afterwards.
std::vector<nlohmann::json> repair_locked(const fs::path& runs_dir, const std::vector<PublicKey>& trusted_keys,
                                          ChainRepair& repair) {
  auto path = runs_dir / "chain.jsonl";
  std::error_code error;
  if (!fs::exists(fs::symlink_status(path, error))) {
    auto unchained = find_unchained(runs_dir, {}, trusted_keys);
    if (!unchained.completions.empty()) append_lines(runs_dir, unchained.completions);
    for (const auto& entry : unchained.completions) repair.completed.push_back(entry["run_id"].get<std::string>());
    repair.signatures_checked = !trusted_keys.empty();
    return unchained.completions;
  }
  auto chain = read_chain(runs_dir);
  if (!chain.problem.empty())
    throw ChainError(fmt::format("{} (the chain cannot be extended until that is resolved)", chain.problem));
  if (chain.torn_tail) {
    auto size = fs::file_size(path);
    if (::truncate(path.c_str(), static_cast<off_t>(chain.whole_bytes)) != 0)
      throw ChainError(fmt::format("cannot truncate the torn last line of {}: {}", path.string(), std::strerror(errno)));
    if (int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW); fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    repair.torn_bytes_removed = size - chain.whole_bytes;
  }
  auto unchained = find_unchained(runs_dir, chain.entries, trusted_keys);
  if (!unchained.completions.empty()) append_lines(runs_dir, unchained.completions);
  repair.signatures_checked = !trusted_keys.empty();
  for (auto& entry : unchained.completions) {
    repair.completed.push_back(entry["run_id"].get<std::string>());
    chain.entries.push_back(std::move(entry));
  }
  return chain.entries;
}

}  // namespace

nlohmann::json append_to_chain(const fs::path& runs_dir, const std::string& run_id, const fs::path& attestation) {
  FileLock lock(runs_dir / ".chain.lock");
  std::vector<nlohmann::json> entries;
  std::error_code error;
  if (fs::exists(fs::symlink_status(runs_dir / "chain.jsonl", error))) {
    auto chain = read_chain(runs_dir);
    if (!chain.problem.empty()) throw ChainError(chain.problem);
    if (chain.torn_tail)
      throw ChainError(fmt::format("{}:{}: the last line is torn; `firedrill chain verify {} --repair` removes it",
                                   (runs_dir / "chain.jsonl").string(), chain.torn_line, runs_dir.string()));
    entries = std::move(chain.entries);
  }
  auto entry = make_entry(entries.size() + 1, run_id, fs::relative(attestation, runs_dir).generic_string(),
                          sha256_file(attestation),
                          entries.empty() ? std::string(chain_genesis) : entries.back()["hash"].get<std::string>(), false);
  append_lines(runs_dir, {entry});
  return entry;
}

ChainCheck verify_chain(const fs::path& runs_dir, const std::vector<PublicKey>& trusted_keys) {
  auto chain = read_chain(runs_dir);
  ChainCheck check;
  check.entries = chain.entries.size();
  if (!chain.problem.empty()) {
    check.reason = chain.problem;
    return check;
  }
  std::string previous{chain_genesis};
  for (std::size_t i = 0; i < chain.entries.size(); ++i) {
    const auto& entry = chain.entries[i];
    auto seq = entry["seq"].get<std::uint64_t>();
    auto run_id = entry["run_id"].get<std::string>();
    auto where = fmt::format("entry {} (line {}, run {})", seq, i + 1, run_id);
    if (seq != i + 1) {
      check.reason = fmt::format("{}: sequence number {} where {} was expected (an entry was removed, inserted or moved)",
                                 where, seq, i + 1);
      return check;
    }
    if (entry["prev"] != previous) {
      check.reason = fmt::format("{}: does not follow the entry before it (removed, inserted or reordered)", where);
      return check;
    }
    if (entry_hash(entry) != entry["hash"]) {
      check.reason = fmt::format("{}: altered (its hash does not match its content)", where);
      return check;
    }
    auto name = entry["attestation"].get<std::string>();
    auto read = read_attestation(runs_dir, name);
    if (!read.problem.empty()) {
      check.reason = fmt::format("{}: {}", where, read.problem);
      return check;
    }
    if (sha256_hex(read.content) != entry["attestation_sha256"]) {
      check.reason = fmt::format("{}: attestation {} changed since it was chained", where, (runs_dir / name).string());
      return check;
    }
    if (!trusted_keys.empty()) {
      std::string why;
      auto statement = statement_of(read.content, trusted_keys, why);
      if (statement.is_null()) {
        check.reason = fmt::format("{}: attestation {} does not verify: {}", where, name, why);
        return check;
      }
      auto attested_run = statement["predicate"].value("run_id", nlohmann::json());
      if (attested_run != run_id) {
        check.reason = fmt::format("{}: attestation {} is the signed statement of run {}, not of run {}", where, name,
                                   attested_run.dump(), run_id);
        return check;
      }
      if (auto anchor = anchor_of(statement)) {
        if (anchor->seq != seq || anchor->prev != entry["prev"]) {
          check.reason = fmt::format(
              "{}: its run signed that it extends entry {} with hash {}, but the chain puts it at {} after {} "
              "(entries before it were removed, inserted or rewritten)",
              where, anchor->seq - 1, anchor->prev, seq, entry["prev"].get<std::string>());
          return check;
        }
        ++check.anchors_checked;
      } else {
        ++check.unanchored;
      }
    }
    if (entry.value("completed_after_crash", false)) ++check.completed_after_crash;
    previous = entry["hash"].get<std::string>();
  }
  check.head_seq = chain.entries.size();
  check.head_hash = previous;
  if (chain.torn_tail) {
    check.repairable = true;
    check.reason = fmt::format("{}:{}: the last line is torn (cut off mid-write); `firedrill chain verify {} --repair` "
                               "removes it and the next signed run does too",
                               (runs_dir / "chain.jsonl").string(), chain.torn_line, runs_dir.string());
    return check;
  }
  // The last entry has no successor to betray its removal; the attestations on disk do.
  auto unchained = find_unchained(runs_dir, chain.entries, trusted_keys);
  if (!unchained.removed.empty()) {
    check.reason = fmt::format("{} is signed but not in the chain (its entry was removed)", unchained.removed.front());
    return check;
  }
  if (!unchained.completions.empty()) {
    check.repairable = true;
    check.reason = fmt::format("{} is signed but not chained yet (its run stopped between signing and chaining); "
                               "`firedrill chain verify {} --repair` or the next signed run chains it",
                               unchained.completions.front()["attestation"].get<std::string>(), runs_dir.string());
    return check;
  }
  check.valid = true;
  return check;
}

ChainRepair repair_chain(const fs::path& runs_dir, const std::vector<PublicKey>& trusted_keys) {
  FileLock lock(runs_dir / ".chain.lock");
  ChainRepair repair;
  repair_locked(runs_dir, trusted_keys, repair);
  return repair;
}

ChainedRun sign_and_chain(const fs::path& runs_dir, const std::string& run_id, const fs::path& run_dir,
                          const SigningKey& key, const std::function<void(std::string_view)>& stage_reached) {
  auto reached = [&](std::string_view stage) {
    if (stage_reached) stage_reached(stage);
  };
  FileLock lock(runs_dir / ".chain.lock");
  reached("locked");
  ChainedRun run;
  auto entries = repair_locked(runs_dir, {key.public_key()}, run.repair);
  ChainAnchor anchor{entries.size() + 1,
                     entries.empty() ? std::string(chain_genesis) : entries.back()["hash"].get<std::string>()};
  run.attestation = sign_run_directory(run_dir, key, anchor);
  reached("signed");
  auto name = fs::relative(run.attestation, runs_dir).generic_string();
  run.entry = make_entry(anchor.seq, run_id, name, sha256_file(run.attestation), anchor.prev, false);
  append_lines(runs_dir, {run.entry});
  reached("chained");
  return run;
}

std::optional<std::string> chain_extends(const fs::path& runs_dir, std::size_t seq, const std::string& hash) {
  if (seq == 0) return std::nullopt;
  ChainFile chain;
  try {
    chain = read_chain(runs_dir);
  } catch (const ChainError& error) {
    return std::string(error.what());
  }
  if (chain.entries.size() < seq)
    return chain.problem.empty()
               ? fmt::format("the chain has {} entries, fewer than the {} it had when it was signed (truncated)",
                             chain.entries.size(), seq)
               : chain.problem;
  if (chain.entries[seq - 1]["hash"] != hash)
    return fmt::format("entry {} has hash {}, not the {} signed (the chain was rewritten)", seq,
                       chain.entries[seq - 1]["hash"].get<std::string>(), hash);
  return std::nullopt;
}

}  // namespace firedrill::attestation
