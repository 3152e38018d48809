#!/usr/bin/perl
# netlab's monitor launcher: starts the monitors of every command one `up` starts, a fork each
# from this one small process (node's spawn costs a couple of milliseconds each, one after the
# other on its main thread). Each monitor gets its own session, the container's log on stdout
# and stderr, the times file on fd 3, /dev/null on stdin, `/` as its folder, and only the
# environment given. Prints each monitor's pid, a line each, in order.
#   stdin: per monitor, NUL-separated: LOG TIMES N-ENV ENV... N-ARGV ARGV...
use strict;
use POSIX ();
use Fcntl qw(O_WRONLY O_APPEND O_CREAT O_NOFOLLOW);

$| = 1;
my @f = do { local $/; split /\0/, <STDIN>, -1 };
pop @f if @f && $f[-1] eq '';
my $i = 0;
while ($i < @f) {
  my ($log, $times, $nenv) = @f[$i .. $i + 2];
  $i += 3;
  my @env = @f[$i .. $i + $nenv - 1];
  $i += $nenv;
  my $argc = $f[$i++];
  my @argv = @f[$i .. $i + $argc - 1];
  $i += $argc;
  # netlab's own files: never written through a symbolic link.
  sysopen(my $out, $log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0640) or die "netlab launch.pl: $log: $!\n";
  sysopen(my $stamps, $times, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0640) or die "netlab launch.pl: $times: $!\n";
  my $pid = fork;
  die "netlab launch.pl: fork: $!\n" if !defined $pid;
  if ($pid == 0) {
    POSIX::setsid();
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>&', $out);
    open(STDERR, '>&', $out);
    POSIX::dup2(fileno($stamps), 3);    # dup2 leaves fd 3 open across exec
    %ENV = map { split /=/, $_, 2 } @env;
    chdir '/';
    exec { $argv[0] } @argv;
    POSIX::_exit(127);
  }
  close $out;
  close $stamps;
  print "$pid\n";
}
