#!/usr/bin/perl
# netlab's log stamper, one per container monitor (Docker's log copier is the model). It copies
# the command's output (stdin, one pipe for stdout and stderr, so their order stays) to the log
# (stdout) byte for byte, and writes to fd 3, before each chunk, the log's size and the time the
# chunk came: `OFFSET SECONDS.MICROSECONDS`. `netlab logs -t/--since/--until` give each line the
# time of the chunk its first byte came in. Perl, not node: it starts in 3 ms.
#   stamp.pl [FIFO]   FIFO: the named pipe stdin came from, removed once both ends are open
use strict;
open(my $times, '>>&=', 3) or die "netlab stamp.pl: fd 3 (the times file): $!\n";
unlink $ARGV[0] if @ARGV;
my ($buf, $hires);
while (1) {
  my $n = sysread(STDIN, $buf, 65536);
  next if !defined $n && $! == 4;    # EINTR
  last if !$n;
  # Time::HiRes (perl, not perl-base) is loaded at the first output: a silent server never pays for it.
  $hires = (eval { require Time::HiRes; 1 } ? 1 : 0) if !defined $hires;
  my ($s, $us) = $hires ? Time::HiRes::gettimeofday() : (time(), 0);
  syswrite($times, sprintf("%d %d.%06d\n", -s STDOUT, $s, $us));
  for (my $at = 0; $at < $n;) {
    my $w = syswrite(STDOUT, $buf, $n - $at, $at);
    if (!defined $w) { next if $! == 4; exit 1 }
    $at += $w;
  }
}
