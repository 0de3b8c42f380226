#!/usr/bin/perl
# Verifies messages with Mail::DKIM, keys from one DNS server:
#     dkim_verify.pl DNS-PORT < message
#     dkim_verify.pl DNS-PORT FILE...      (many messages, one process)
# Prints one line per signature: "RESULT d=DOMAIN s=SELECTOR a=ALGORITHM (DETAIL)",
# prefixed with "FILE\t" when files are given.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS::Resolver;

my $port = shift or die "usage: dkim_verify.pl DNS-PORT [FILE...] < message\n";
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
	nameservers => ['127.0.0.1'], port => $port, recurse => 1, udp_timeout => 5));

sub verify {
	my ($fh, $prefix) = @_;
	my $v = Mail::DKIM::Verifier->new();
	binmode $fh;
	while (<$fh>) {
		s/\r?\n\z/\r\n/;
		$v->PRINT($_);
	}
	$v->CLOSE;
	for my $sig ($v->signatures) {
		printf "%s%s d=%s s=%s a=%s (%s)\n", $prefix, $sig->result, $sig->domain, $sig->selector,
			$sig->algorithm, $sig->result_detail;
	}
}

if (@ARGV) {
	for my $file (@ARGV) {
		open(my $fh, '<', $file) or die "$file: $!\n";
		verify($fh, "$file\t");
		close($fh);
	}
} else {
	verify(\*STDIN, "");
}
