# root's csh(1) settings inside a qjail jail.
alias h		history 25
alias j		jobs -l
alias la	ls -aF
alias lf	ls -FA
alias ll	ls -lAF

umask 22
set path = (/sbin /bin /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin $HOME/bin)
setenv EDITOR vi
setenv PAGER less

if ($?prompt) then
	set prompt = "%N@%m:%~ %# "
	set promptchars = "%#"
	set filec
	set history = 1000
	set savehist = (1000 merge)
	set autolist = ambiguous
	set autoexpand
	set autorehash
endif
