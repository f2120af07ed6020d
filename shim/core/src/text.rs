//! Small text helpers shared by the shim's formatters (no allocation).

/// `v` in decimal, written at the end of `digits`; the digits written.
pub fn decimal(mut v: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut d = digits.len();
    loop {
        d -= 1;
        digits[d] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &digits[d..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_covers_zero_and_the_largest_value() {
        let mut d = [0u8; 20];
        assert_eq!(decimal(0, &mut d), b"0");
        assert_eq!(decimal(1024, &mut d), b"1024");
        assert_eq!(decimal(u64::MAX, &mut d), b"18446744073709551615");
    }
}
