#include "cotrain/core/atomic_file.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common/errors.h"
#include "common/shared_data.h"
#include "cotrain/core/error.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AtomicFile, AppearsOnlyOnCommit) {
  auto dir = test::scratch_dir();
  auto target = dir / "sub" / "out.txt";
  {
    AtomicFile f(target);
    f.stream() << "hello";
    EXPECT_FALSE(fs::exists(target));
    f.commit();
  }
  EXPECT_EQ(slurp(target), "hello");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "sub"), fs::directory_iterator{}), 1);
}

TEST(AtomicFile, AbandonedLeavesNothingAndKeepsOldContent) {
  auto dir = test::scratch_dir();
  auto target = dir / "out.txt";
  std::ofstream(target) << "old";
  {
    AtomicFile f(target);
    f.stream() << "new";
  }
  EXPECT_EQ(slurp(target), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);
}

TEST(AtomicDir, ReplacesItsOwnEarlierOutputOnCommitOnly) {
  auto dir = test::scratch_dir();
  auto target = dir / "run";
  {
    AtomicDir d(target, "eval");
    std::ofstream(d.path() / "old.txt") << "old";
    d.commit();
  }
  {
    AtomicDir d(target, "eval");
    std::ofstream(d.path() / "new.txt") << "new";
  }
  EXPECT_TRUE(fs::exists(target / "old.txt"));
  {
    AtomicDir d(target, "eval");
    std::ofstream(d.path() / "new.txt") << "new";
    d.commit();
  }
  EXPECT_FALSE(fs::exists(target / "old.txt"));
  EXPECT_EQ(slurp(target / "new.txt"), "new");
  EXPECT_EQ(slurp(target / kOutputMarker), "eval\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);
}

// `eval --out keep` used to delete keep/notes.txt: a directory that is not an earlier output of
// the same command is never replaced, and nothing is lost.
TEST(AtomicDir, RefusesAUsersDirectoryAFileAndAnotherCommandsOutput) {
  auto dir = test::scratch_dir();
  fs::create_directories(dir / "keep");
  std::ofstream(dir / "keep" / "notes.txt") << "x";
  EXPECT_NE(test::input_error_of([&] { AtomicDir d(dir / "keep", "eval"); }).find("keep: exists and is not empty"), std::string::npos);
  EXPECT_EQ(slurp(dir / "keep" / "notes.txt"), "x");

  std::ofstream(dir / "preds.jsonl") << "{}\n";
  EXPECT_NE(test::input_error_of([&] { AtomicDir d(dir / "preds.jsonl", "eval"); }).find("exists and is not a directory"), std::string::npos);
  EXPECT_EQ(slurp(dir / "preds.jsonl"), "{}\n");

  {
    AtomicDir cache(dir / "cache", "token-cache");
    cache.commit();
  }
  EXPECT_NE(test::input_error_of([&] { AtomicDir d(dir / "cache", "eval"); }).find("another command's output (token-cache)"), std::string::npos);
  EXPECT_EQ(test::input_error_of([&] { AtomicDir d("", "eval"); }), "output path is empty");

  fs::create_directories(dir / "empty");
  EXPECT_NO_THROW(AtomicDir(dir / "empty", "eval"));
  fs::create_directory_symlink("keep", dir / "link");
  EXPECT_NE(test::input_error_of([&] { AtomicDir d(dir / "link", "eval"); }).find("is a symbolic link"), std::string::npos);
}

// A link, a FIFO or a device given as the output is written through, never renamed over: as root,
// `--out /dev/null` used to replace the system's /dev/null with a regular file.
TEST(AtomicFile, WritesThroughLinksFifosAndDevices) {
  auto dir = test::scratch_dir();
  std::ofstream(dir / "real.txt") << "old";
  fs::create_symlink("real.txt", dir / "link.txt");
  {
    AtomicFile f(dir / "link.txt");
    f.stream() << "new";
    f.commit();
  }
  EXPECT_TRUE(fs::is_symlink(dir / "link.txt"));
  EXPECT_EQ(slurp(dir / "real.txt"), "new");

  fs::create_symlink("/dev/null", dir / "null");
  {
    AtomicFile f(dir / "null");
    f.stream() << "gone";
    f.commit();
  }
  EXPECT_TRUE(fs::is_symlink(dir / "null"));
  EXPECT_TRUE(fs::is_character_file("/dev/null"));

  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] { received = slurp(dir / "fifo"); });
  {
    AtomicFile f(dir / "fifo");
    f.stream() << "through the pipe";
    f.commit();
  }
  reader.join();
  EXPECT_EQ(received, "through the pipe");
  EXPECT_TRUE(fs::is_fifo(dir / "fifo"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 4);  // no temporaries

  EXPECT_NE(test::input_error_of([&] { AtomicFile f(dir); }).find("is a directory"), std::string::npos);
  fs::create_symlink("loop_b", dir / "loop_a");
  fs::create_symlink("loop_a", dir / "loop_b");
  EXPECT_NE(test::input_error_of([&] { AtomicFile f(dir / "loop_a"); }).find("symbolic link loop"), std::string::npos);
  EXPECT_EQ(test::input_error_of([&] { AtomicFile f(""); }), "output path is empty");
}

// A process killed outright (a second Ctrl-C, SIGKILL) leaves its temporary; the next output
// written beside it removes it, while a live process's temporary is left alone.
TEST(AtomicFile, ReclaimsTemporariesOfDeadProcesses) {
  auto dir = test::scratch_dir();
  auto target = dir / "out.jsonl";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    AtomicFile f(target);
    f.stream() << std::string(1000, 'x');
    f.stream().flush();
    _exit(0);  // no destructor: the temporary stays, as after SIGKILL
  }
  int status = 0;
  waitpid(child, &status, 0);
  auto count = [&] { return std::distance(fs::directory_iterator(dir), fs::directory_iterator{}); };
  ASSERT_EQ(count(), 1);
  AtomicFile live(target);  // reclaims the dead one's temporary, keeps its own
  EXPECT_EQ(count(), 1);
  AtomicFile other(dir / "other.jsonl");  // a live process's temporary (this one's) is never touched
  EXPECT_EQ(count(), 2);
}

}  // namespace
}  // namespace cotrain
