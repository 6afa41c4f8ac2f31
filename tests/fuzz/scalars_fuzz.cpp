// The small parsers of text a scenario, a command line or a file on disk hands firedrill: the
// first byte picks one, the rest is its input. Each either answers or refuses in its documented
// way; where a printer exists, what it prints reads back as the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/byte_size.hpp"
#include "core/duration.hpp"
#include "core/host_paths.hpp"
#include "harness/runtime/process/process_group.hpp"
#include "reports/attestation/dsse.hpp"
#include "reports/attestation/rollup.hpp"

namespace {

using namespace firedrill;

void check(bool condition) {
  if (!condition) std::abort();
}

void duration(std::string_view text) {
  try {
    const Duration parsed = parse_duration(text);
    check(parsed.count() >= 0 && parsed <= max_scenario_duration);
    check(parse_duration(format_duration(parsed)) == parsed);
  } catch (const std::invalid_argument&) {
  }
}

void rate(std::string_view text) {
  try {
    const double parsed = parse_rate(text);
    check(parsed >= 0 && parsed <= 1'000'000);
  } catch (const std::invalid_argument&) {
  }
}

void byte_size(std::string_view text) { (void)parse_byte_size(text); }

void period(std::string_view text) {
  try {
    const auto parsed = attestation::parse_period(text);
    check(parsed.from < parsed.to);
  } catch (const attestation::RollupInputError&) {
  }
}

void timestamp(std::string_view text) {
  if (const auto seconds = attestation::parse_timestamp(text)) {
    const std::string printed = attestation::format_timestamp(*seconds);
    check(attestation::parse_timestamp(printed) == seconds);
  }
}

void glob(std::string_view text) {
  const auto split = text.find('\n');
  if (split == std::string_view::npos) return;
  (void)attestation::glob_match(text.substr(0, split), text.substr(split + 1));
}

void base64(std::string_view text) {
  if (const auto decoded = attestation::base64_decode(text)) {
    check(attestation::base64_decode(attestation::base64_encode(*decoded)) == decoded);
  }
  check(attestation::base64_decode(attestation::base64_encode(text)) == std::string(text));
}

void pid_file(std::string_view text) {
  if (const auto parsed = RecordedProcess::parse(std::string(text))) {
    const auto again = RecordedProcess::parse(parsed->to_text());
    check(again && again->pid == parsed->pid && again->start_time == parsed->start_time &&
          again->process_group == parsed->process_group && again->cgroup == parsed->cgroup);
  }
}

void repository(std::string_view text) {
  const std::string configured(text);
  if (repository_refusal(configured, {"/srv/backups"}).empty()) {
    const auto directory = repository_directory(configured, "/run/x");
    check(!directory.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 9) {
    case 0: duration(text); break;
    case 1: rate(text); break;
    case 2: byte_size(text); break;
    case 3: period(text); break;
    case 4: timestamp(text); break;
    case 5: glob(text); break;
    case 6: base64(text); break;
    case 7: pid_file(text); break;
    case 8: repository(text); break;
  }
  return 0;
}
