//! `flag_type!`: the bit-flag types (`EV_*`, `BEV_OPT_*`, `LEV_OPT_*`...), one shape for all.

/// Declares a flag type over a C integer: constants, `|`, `&`, `contains`, a `Debug`
/// that names the flags set, and a doc example for each method.
macro_rules! flag_type {
    ($(#[$m:meta])* $name:ident : $t:ty { $($(#[$fm:meta])* $flag:ident = $value:expr;)* }) => {
        $(#[$m])*
        ///
        /// Combine flags with `|`; test them with `contains` and `intersects`.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub(crate) $t);
        impl $name {
            $($(#[$fm])* pub const $flag: $name = $name($value as $t);)*
            /// No flag.
            #[doc = concat!("```\nassert!(", module_path!(), "::", stringify!($name), "::empty().is_empty());\n```")]
            pub const fn empty() -> Self { $name(0) }
            /// The C value.
            #[doc = concat!("```\nassert_eq!(", module_path!(), "::", stringify!($name), "::empty().bits(), 0);\n```")]
            pub const fn bits(self) -> $t { self.0 }
            /// From a C value; unknown bits are kept.
            #[doc = concat!("```\nlet f = ", module_path!(), "::", stringify!($name), "::from_bits(0);\nassert!(f.is_empty());\n```")]
            pub const fn from_bits(bits: $t) -> Self { $name(bits) }
            /// True when every flag of `other` is set in `self` (and `other` is not empty).
            #[doc = concat!("```\nuse ", module_path!(), "::", stringify!($name), " as F;\nlet all = F::from_bits(!0);\nassert!(!F::empty().contains(F::empty()));\nassert!(all.contains(all));\n```")]
            pub const fn contains(self, other: Self) -> bool { self.0 & other.0 == other.0 && other.0 != 0 }
            /// True when any flag of `other` is set in `self`.
            #[doc = concat!("```\nuse ", module_path!(), "::", stringify!($name), " as F;\nassert!(!F::empty().intersects(F::from_bits(!0)));\n```")]
            pub const fn intersects(self, other: Self) -> bool { self.0 & other.0 != 0 }
            /// True when no flag is set.
            #[doc = concat!("```\nassert!(", module_path!(), "::", stringify!($name), "::default().is_empty());\n```")]
            pub const fn is_empty(self) -> bool { self.0 == 0 }
        }
        impl std::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, o: Self) -> Self { $name(self.0 | o.0) }
        }
        impl std::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, o: Self) { self.0 |= o.0; }
        }
        impl std::ops::BitAnd for $name {
            type Output = Self;
            fn bitand(self, o: Self) -> Self { $name(self.0 & o.0) }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut first = true;
                write!(f, "{}(", stringify!($name))?;
                $(if $value as $t != 0 && self.0 & ($value as $t) == ($value as $t) {
                    if !first { write!(f, " | ")?; }
                    first = false;
                    write!(f, "{}", stringify!($flag))?;
                })*
                let _ = first;
                write!(f, ")")
            }
        }
    };
}
pub(crate) use flag_type;
