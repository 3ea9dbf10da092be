"""Member engagement (issue 9): check-in with streaks, a points ledger, leaderboards,
coupons members claim, transfer and redeem."""
