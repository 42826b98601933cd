//! A bounds-checked cursor over PDU octets: every read names the field it
//! reads so that a truncated PDU gives a useful error instead of a panic.

use super::error::PduError;

pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, PduError> {
        let byte = *self.data.get(self.pos).ok_or(PduError::Truncated(field))?;
        self.pos += 1;
        Ok(byte)
    }

    pub(crate) fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], PduError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or(PduError::Truncated(field))?;
        let slice = self
            .data
            .get(self.pos..end)
            .ok_or(PduError::Truncated(field))?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn take7(&mut self, field: &'static str) -> Result<[u8; 7], PduError> {
        let slice = self.take(7, field)?;
        <[u8; 7]>::try_from(slice).map_err(|_| PduError::Truncated(field))
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        self.pos = self.data.len();
        rest
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
}
