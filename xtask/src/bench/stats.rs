//! Summaries of repeated measurements.

/// The `p`-th percentile (0 to 100) of `values`, interpolated linearly
/// between the two nearest ranks (the median of an even count is the mean of
/// the middle two); `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)] // a handful of measurements
    let rank = p.clamp(0.0, 100.0) / 100.0 * (sorted.len() - 1) as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 <= rank < len
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - rank.floor()))
}

/// The 50th percentile.
pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

/// Smallest, median and largest of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Self> {
        Some(Self {
            min: percentile(values, 0.0)?,
            median: median(values)?,
            max: percentile(values, 100.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[7.0]), Some(7.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let values: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(percentile(&values, 90.0), Some(10.0));
        assert_eq!(percentile(&values, 95.0), Some(10.5));
        assert_eq!(percentile(&values, 100.0), Some(11.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_spread_has_the_extremes_and_the_median() {
        assert_eq!(
            Spread::of(&[30.0, 10.0, 20.0, 40.0]),
            Some(Spread {
                min: 10.0,
                median: 25.0,
                max: 40.0
            })
        );
        assert_eq!(Spread::of(&[]), None);
    }
}
