//! User data header (3GPP TS 23.040 §9.2.3.24): a list of information
//! elements (IEI, length, data). Concatenation and port addressing are
//! understood; every other element is kept as raw octets.

use super::error::PduError;

/// IEI of the concatenation element with an 8-bit reference.
pub const IEI_CONCAT_8: u8 = 0x00;
/// IEI of the 8-bit application port element.
pub const IEI_PORTS_8: u8 = 0x04;
/// IEI of the 16-bit application port element.
pub const IEI_PORTS_16: u8 = 0x05;
/// IEI of the concatenation element with a 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;

/// Where a segment sits in a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concat {
    /// Reference shared by all segments of one message.
    pub reference: u16,
    /// Number of segments, 1..=255.
    pub total: u8,
    /// This segment's number, 1..=total.
    pub seq: u8,
    /// The reference was sent in 16 bits (IEI 08) rather than 8 (IEI 00).
    pub wide_reference: bool,
}

/// Application port addressing (WAP push and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ports {
    /// Destination port.
    pub destination: u16,
    /// Originator port.
    pub origin: u16,
    /// Sent as 16-bit ports (IEI 05) rather than 8-bit (IEI 04).
    pub wide: bool,
}

/// One information element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InformationElement {
    /// Concatenated short message.
    Concat(Concat),
    /// Application port addressing.
    Ports(Ports),
    /// Any other element, or a known one with invalid content (TS 23.040
    /// says such an element is ignored; it is kept here as received).
    Other {
        /// Information element identifier.
        id: u8,
        /// Its data.
        data: Vec<u8>,
    },
}

/// A parsed user data header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UserDataHeader {
    /// Elements in the order received.
    pub elements: Vec<InformationElement>,
}

impl UserDataHeader {
    /// Parses the header octets that follow UDHL (UDHL itself excluded).
    pub fn parse(octets: &[u8]) -> Result<UserDataHeader, PduError> {
        let mut elements = Vec::new();
        let mut rest = octets;
        while let [id, len, tail @ ..] = rest {
            let len = usize::from(*len);
            let data = tail.get(..len).ok_or(PduError::InvalidHeader(
                "an element is longer than the header",
            ))?;
            elements.push(parse_element(*id, data));
            rest = tail.get(len..).unwrap_or(&[]);
        }
        if !rest.is_empty() {
            return Err(PduError::InvalidHeader(
                "a stray octet after the last element",
            ));
        }
        Ok(UserDataHeader { elements })
    }

    /// The concatenation element, if any (the first one wins).
    pub fn concat(&self) -> Option<Concat> {
        self.elements.iter().find_map(|e| match e {
            InformationElement::Concat(c) => Some(*c),
            _ => None,
        })
    }

    /// The port addressing element, if any.
    pub fn ports(&self) -> Option<Ports> {
        self.elements.iter().find_map(|e| match e {
            InformationElement::Ports(p) => Some(*p),
            _ => None,
        })
    }

    /// Serialises the header, UDHL first.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for element in &self.elements {
            match element {
                InformationElement::Concat(c) if c.wide_reference => {
                    let [hi, lo] = c.reference.to_be_bytes();
                    body.extend_from_slice(&[IEI_CONCAT_16, 4, hi, lo, c.total, c.seq]);
                }
                InformationElement::Concat(c) => {
                    let lo = (c.reference & 0xFF) as u8;
                    body.extend_from_slice(&[IEI_CONCAT_8, 3, lo, c.total, c.seq]);
                }
                InformationElement::Ports(p) if p.wide => {
                    body.extend_from_slice(&[IEI_PORTS_16, 4]);
                    body.extend_from_slice(&p.destination.to_be_bytes());
                    body.extend_from_slice(&p.origin.to_be_bytes());
                }
                InformationElement::Ports(p) => {
                    let dest = (p.destination & 0xFF) as u8;
                    let orig = (p.origin & 0xFF) as u8;
                    body.extend_from_slice(&[IEI_PORTS_8, 2, dest, orig]);
                }
                InformationElement::Other { id, data } => {
                    body.push(*id);
                    body.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
                    body.extend_from_slice(data);
                }
            }
        }
        let mut out = Vec::with_capacity(body.len() + 1);
        out.push(u8::try_from(body.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&body);
        out
    }
}

fn parse_element(id: u8, data: &[u8]) -> InformationElement {
    let known = match (id, data) {
        (IEI_CONCAT_8, &[reference, total, seq]) => {
            concat_if_valid(u16::from(reference), total, seq, false)
        }
        (IEI_CONCAT_16, &[hi, lo, total, seq]) => {
            concat_if_valid(u16::from_be_bytes([hi, lo]), total, seq, true)
        }
        (IEI_PORTS_8, &[dest, orig]) => Some(InformationElement::Ports(Ports {
            destination: u16::from(dest),
            origin: u16::from(orig),
            wide: false,
        })),
        (IEI_PORTS_16, &[d1, d2, o1, o2]) => Some(InformationElement::Ports(Ports {
            destination: u16::from_be_bytes([d1, d2]),
            origin: u16::from_be_bytes([o1, o2]),
            wide: true,
        })),
        _ => None,
    };
    known.unwrap_or_else(|| InformationElement::Other {
        id,
        data: data.to_vec(),
    })
}

/// TS 23.040 §9.2.3.24.1: a total of 0, a sequence number of 0 or one above
/// the total make the receiver ignore the element.
fn concat_if_valid(reference: u16, total: u8, seq: u8, wide: bool) -> Option<InformationElement> {
    (total > 0 && seq > 0 && seq <= total).then_some(InformationElement::Concat(Concat {
        reference,
        total,
        seq,
        wide_reference: wide,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wap_push_header() {
        let h = UserDataHeader::parse(&[
            0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x2A, 0x02, 0x01,
        ])
        .expect("valid");
        assert_eq!(
            h.ports(),
            Some(Ports {
                destination: 2948,
                origin: 9200,
                wide: true
            })
        );
        assert_eq!(
            h.concat(),
            Some(Concat {
                reference: 42,
                total: 2,
                seq: 1,
                wide_reference: false
            })
        );
        let mut encoded = vec![0x0B];
        encoded.extend_from_slice(&[
            0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x2A, 0x02, 0x01,
        ]);
        assert_eq!(h.encode(), encoded);
    }

    #[test]
    fn invalid_concat_is_kept_raw_and_bad_lengths_fail() {
        let h = UserDataHeader::parse(&[0x00, 0x03, 0x01, 0x02, 0x03]).expect("valid layout");
        assert_eq!(h.concat(), None);
        assert!(matches!(
            h.elements.first(),
            Some(InformationElement::Other { id: 0, .. })
        ));
        assert!(UserDataHeader::parse(&[0x00, 0x03, 0x01]).is_err());
        assert!(UserDataHeader::parse(&[0x00]).is_err());
        assert_eq!(UserDataHeader::parse(&[]).map(|h| h.elements.len()), Ok(0));
    }
}
