"""Chemical element symbols and X-ray absorption edge names (for validating file headers)."""

from __future__ import annotations

ELEMENT_SYMBOLS: tuple[str, ...] = tuple(
    """
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se
Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy
Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf
Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og
""".split()
)

_SYMBOL_SET = frozenset(ELEMENT_SYMBOLS)

XAS_EDGES: frozenset[str] = frozenset(
    ["K", "L", "M", "N"]
    + [f"L{i}" for i in range(1, 4)]
    + [f"M{i}" for i in range(1, 6)]
    + [f"N{i}" for i in range(1, 8)]
    + [f"O{i}" for i in range(1, 6)]
)


def is_element_symbol(symbol: str) -> bool:
    """True if ``symbol`` is a real element symbol with correct case (``Cd``, not ``CD``)."""
    return symbol in _SYMBOL_SET


def element_from_atomic_number(z: int) -> str | None:
    """Symbol for atomic number ``z`` (1…118), else None."""
    return ELEMENT_SYMBOLS[z - 1] if 1 <= z <= len(ELEMENT_SYMBOLS) else None
