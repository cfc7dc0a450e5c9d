"""The mock exchange: FIX 4.4 order entry and drop copy, books, market makers, journal."""
