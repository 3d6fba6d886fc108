// CTest labels declared with the test itself, so a rename cannot silently drop them:
//   LOOKOUT_TEST_F(Overflow, LostChangesComeBack, LABELS(root, serial)) { ... }
// expands to TEST_F(Overflow, LostChangesComeBack) plus a compile-time check of the label
// names. tests/labels.cmake.in reads these declarations from the test sources each time ctest
// runs (no registration in the binary) and gives every discovered test its kind label (unit,
// kernel, e2e) plus the declared ones:
//   root    needs root: mounts, global sysctls, fanotify (skips with a reason otherwise)
//   slow    seconds each: races repeated many times, stress
//   serial  not a label: the test lowers a global kernel knob (max_queued_events), which every
//           watcher created meanwhile would get, so it runs alone (CTest RUN_SERIAL)
// Rows of a parameterized suite get labels by their parameter name:
//   LOOKOUT_PARAM_LABELS(Backends, Behaviour, "^fanotify_", LABELS(root));
// labels every Backends/Behaviour.*/P whose P matches the (CMake) regex. A declaration that no
// discovered test matches fails the ctest run, naming it.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

namespace lookout::testing::labels {

// `decl` is the stringized LABELS(...) argument: "LABELS(root, slow)". True when it lists at
// least one label and only known ones.
constexpr bool valid(std::string_view decl) {
  constexpr std::string_view open = "LABELS(";
  if (decl.substr(0, open.size()) != open || decl.empty() || decl.back() != ')') return false;
  std::string_view list = decl.substr(open.size(), decl.size() - open.size() - 1);
  int count = 0;
  while (!list.empty()) {
    std::size_t end = list.find(',');
    std::string_view word = list.substr(0, end);
    while (!word.empty() && word.front() == ' ') word.remove_prefix(1);
    while (!word.empty() && word.back() == ' ') word.remove_suffix(1);
    if (word != "root" && word != "slow" && word != "serial") return false;
    ++count;
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return count > 0;
}

}  // namespace lookout::testing::labels

#define LOOKOUT_CHECK_LABELS_(label_list)                       \
  static_assert(::lookout::testing::labels::valid(#label_list), \
                "use LABELS(root, slow, serial): " #label_list)

#define LOOKOUT_TEST(suite, name, label_list) \
  LOOKOUT_CHECK_LABELS_(label_list);          \
  TEST(suite, name)
#define LOOKOUT_TEST_F(suite, name, label_list) \
  LOOKOUT_CHECK_LABELS_(label_list);            \
  TEST_F(suite, name)
#define LOOKOUT_TEST_P(suite, name, label_list) \
  LOOKOUT_CHECK_LABELS_(label_list);            \
  TEST_P(suite, name)
#define LOOKOUT_PARAM_LABELS(prefix, suite, param_regex, label_list) \
  LOOKOUT_CHECK_LABELS_(label_list)
