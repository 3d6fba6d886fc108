#include "stats/table.h"

#include <fmt/format.h>

#include <algorithm>

#include "sink/json_format.h"

namespace lookout::stats {

namespace {

bool column_shown(const Tally& t, const TableOptions& opt, std::size_t i) {
  const auto c = static_cast<Column>(i);
  return (opt.columns & column_bit(c)) && (opt.zero || t.column_total(c) > 0);
}

std::uint64_t sort_value(const Row& r, const TableOptions& opt) {
  return opt.sort_by ? r.hits[static_cast<std::size_t>(*opt.sort_by)] : r.total;
}

}  // namespace

std::vector<ShownRow> shown_rows(const Tally& tally, const TableOptions& opt) {
  std::vector<ShownRow> out;
  for (const auto& [key, row] : tally.rows()) {
    if (!opt.zero && row.total == 0) continue;
    out.push_back({opt.display ? opt.display(key) : key, &row});
  }
  std::stable_sort(out.begin(), out.end(), [&](const ShownRow& a, const ShownRow& b) {
    const std::uint64_t va = sort_value(*a.row, opt), vb = sort_value(*b.row, opt);
    return opt.ascending ? va < vb : va > vb;
  });
  if (opt.top > 0 && out.size() > opt.top) out.resize(opt.top);
  return out;
}

std::string format_table(const Tally& tally, const TableOptions& opt) {
  if (tally.total() == 0) return {};
  // As inotifywatch prints it: each value left-aligned in the width of its header, two
  // spaces after (a longer value pushes the rest of its line), the file name last.
  std::string out = "total  ";
  for (std::size_t i = 0; i < kColumns; ++i) {
    if (column_shown(tally, opt, i)) out += fmt::format("{}  ", kColumnNames[i]);
  }
  out += "filename\n";
  for (const ShownRow& s : shown_rows(tally, opt)) {
    out += fmt::format("{:<5}  ", s.row->total);
    for (std::size_t i = 0; i < kColumns; ++i) {
      if (!column_shown(tally, opt, i)) continue;
      out += fmt::format("{:<{}}  ", s.row->hits[i], std::string_view(kColumnNames[i]).size());
    }
    out += s.name;
    out.push_back('\n');
  }
  return out;
}

std::string format_json(const Tally& tally, const TableOptions& opt, double duration_s) {
  std::string out;
  for (const ShownRow& s : shown_rows(tally, opt)) {
    out += "{";
    sink::append_path_member("path", s.name, out);
    out += fmt::format(",\"total\":{},\"events\":{{", s.row->total);
    bool first = true;
    for (std::size_t i = 0; i < kColumns; ++i) {
      if (!(opt.columns & column_bit(static_cast<Column>(i)))) continue;
      if (!opt.zero && s.row->hits[i] == 0) continue;
      out += fmt::format("{}\"{}\":{}", first ? "" : ",", kColumnNames[i], s.row->hits[i]);
      first = false;
    }
    out += "}}\n";
  }
  out += fmt::format("{{\"totals\":{{");
  bool first = true;
  for (std::size_t i = 0; i < kColumns; ++i) {
    if (!(opt.columns & column_bit(static_cast<Column>(i)))) continue;
    out += fmt::format("{}\"{}\":{}", first ? "" : ",", kColumnNames[i], tally.column_total(static_cast<Column>(i)));
    first = false;
  }
  out += fmt::format("}},\"total\":{},\"duration_s\":{:.3f},\"rescans\":{{", tally.total(), duration_s);
  first = true;
  for (const auto& [reason, n] : tally.rescans()) {
    out += first ? "" : ",";
    sink::append_json_string(reason, out);
    out += fmt::format(":{}", n);
    first = false;
  }
  out += "},\"backends\":[";
  first = true;
  for (const auto& [path, reason] : tally.backends()) {
    out += first ? "{" : ",{";
    sink::append_path_member("path", path, out);
    out += ",\"reason\":";
    sink::append_json_string(reason, out);
    out += "}";
    first = false;
  }
  out += "]}\n";
  return out;
}

std::string format_summary(const Tally& tally, const TableOptions& opt, double duration_s) {
  std::string out = fmt::format("{} events in {:.1f} s", tally.total(), duration_s);
  std::uint64_t rescans = 0;
  for (const auto& [reason, n] : tally.rescans()) rescans += n;
  if (rescans > 0) {
    out += fmt::format("; {} rescan{} (", rescans, rescans == 1 ? "" : "s");
    bool first = true;
    for (const auto& [reason, n] : tally.rescans()) {
      out += fmt::format("{}{} {}", first ? "" : ", ", reason, n);
      first = false;
    }
    out += ")";
    if (tally.rescans().count("overflow")) {
      out += ": the kernel queue overflowed, counts of what happened during each are lower bounds";
    }
  }
  out += "\n";
  for (const auto& [path, reason] : tally.backends()) {
    out += fmt::format("backend for {}: {}\n", opt.display ? opt.display(path) : path, reason);
  }
  if (duration_s > 0) {
    TableOptions busiest = opt;
    busiest.sort_by.reset();
    busiest.ascending = false;
    busiest.zero = false;
    busiest.top = 5;
    for (const ShownRow& s : shown_rows(tally, busiest)) {
      out += fmt::format("busiest: {} {:.1f} events/s\n", s.name, static_cast<double>(s.row->total) / duration_s);
    }
  }
  return out;
}

}  // namespace lookout::stats
