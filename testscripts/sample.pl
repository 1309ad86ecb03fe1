#!/usr/bin/perl
# Sample authentication helper for authpool, generic (Prosody) line protocol.
#
# Copy and adapt this: replace the %users hash with your own user store.
#
# Protocol, one request per line on stdin, one answer per line on stdout:
#
#     auth:USER:SERVER:PASSWORD     -> 1 if the password is right, else 0
#     isuser:USER:SERVER            -> 1 if the user exists, else 0
#     setpass:USER:SERVER:PASSWORD  -> 1 if the password was changed, else 0
#
# Anything else is answered with 0. A line is split at most 3 times on ':',
# so the password keeps its colons. stdin and stdout are raw bytes (binmode,
# no 'use utf8'): a password may hold any byte except a newline. $| = 1
# flushes every answer at once, so this works over a pipe and under a pty.
#
# Users: the built-in demo users below, or a file given as the first argument
# with lines `user@server:password` ('#' comments and blank lines ignored).
# Password changes (setpass) live in memory only. Exits 0 at end of input.

use strict;
use warnings;

# Built-in demo users, used when no users file is given. This file is saved
# as UTF-8 and has no 'use utf8', so the strings are the UTF-8 bytes that
# arrive on stdin.
my %users = (
    'alice@example.com' => 'wonderland',
    'bob@example.com'   => 'builder',
    'carol@example.com' => 'a:b:c',
    'dave@example.com'  => 'pässwörd€',
);

if (@ARGV > 1) {
    print STDERR "usage: $0 [USERS_FILE]\n";
    exit 2;
}
if (@ARGV == 1) {
    %users = ();
    open(my $fh, '<:raw', $ARGV[0]) or do {
        print STDERR "$0: cannot read users file $ARGV[0]: $!\n";
        exit 1;
    };
    while (my $line = <$fh>) {
        $line =~ s/\r?\n\z//;    # tolerate a file saved with CRLF ends
        next if $line =~ /^#/ or index($line, ':') < 0;
        my ($key, $password) = split /:/, $line, 2;
        $users{$key} = $password;
    }
    close $fh;
}

binmode STDIN,  ':raw';
binmode STDOUT, ':raw';
$| = 1;    # flush after every print

# Answer one request (without its newline): 1 or 0.
sub handle {
    my ($request) = @_;
    # A limit of 4 keeps empty trailing fields ("auth:u:s:" has password "").
    my @f = split /:/, $request, 4;
    my $op = $f[0] // '';
    if ($op eq 'auth' && @f == 4) {
        my $stored = $users{"$f[1]\@$f[2]"};
        return (defined $stored && $stored eq $f[3]) ? 1 : 0;
    }
    if ($op eq 'isuser' && @f == 3) {
        return exists $users{"$f[1]\@$f[2]"} ? 1 : 0;
    }
    if ($op eq 'setpass' && @f == 4) {
        my $key = "$f[1]\@$f[2]";
        return 0 unless exists $users{$key};
        $users{$key} = $f[3];
        return 1;
    }
    return 0;    # unknown or malformed request
}

while (my $line = <STDIN>) {
    chomp $line;    # removes only the trailing "\n"
    print handle($line), "\n";
}
exit 0;
