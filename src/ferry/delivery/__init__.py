"""Getting things to people: mail now; download centre, SFTP and HTTPS push next."""
